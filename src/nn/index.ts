/** Networks: layers, the sequential model, initialisation, optimisers, training loop, checkpoints. */
export { Rng } from './rng.js';
export { float32Device, float64Device, BatchBuffer, type Device } from './device.js';
export { createParam, paramSize, type Param, type ParamKind } from './param.js';
export { Linear, Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, BatchNorm2d, type Layer, type Mode, type StateBuffer, type Conv2dOptions } from './layers.js';
export { Sequential, type SequentialOptions } from './sequential.js';
export { kaimingNormalInit, fanIn } from './init.js';
export { createOptimizer, learningRate, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, type Optimizer, type OptimizerTarget, type ScheduleConfig } from './optim.js';
export { trainStep, computeGradients, trainStepAndRead, computeGradientsAndRead, evaluate, type StepResult, type StatsSlot, type EvalBatches } from './train.js';
export { saveModel, loadModel, modelTensors, MASK_SUFFIX } from './checkpoint.js';
