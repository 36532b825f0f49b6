#!/usr/bin/env python3
"""Golden fixtures from PyTorch for the network layers (src/nn) and a small conv net.

Run:  /usr/bin/python3 scripts/torch_fixtures.py    (Debian's python3-torch; writes
      test/fixtures/torch/layers.json, convnet.json and zoo.json)

Inputs and parameters are drawn in float32 (so the TypeScript side holds them exactly); every
result is computed in float64, the reference the Float32 engine is compared against with a float
tolerance. Masks follow the project's semantics: pruned weights are 0 and their gradients are
multiplied by the mask, so their optimiser state stays 0 (torch.nn.utils.prune does the same).

Per layer case: forward output y for input x, then with upstream gradient dy the input gradient dx
and the parameter gradients; then two optimiser steps on the fixed (x, dy) objective
L = sum(y * dy), once with Adam and once with SGD-Nesterov (both with weight decay), recording the
parameters after each step. The conv net case does the same with the mean cross-entropy loss and
also records BatchNorm running statistics and eval-mode logits.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torch')
ADAM = dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.001)
SGD = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0005, dampening=0)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def randn32(gen, *shape, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * scale).to(torch.float64)


def make_layer(spec):
    t = spec['type']
    if t == 'linear':
        return nn.Linear(spec['in'], spec['out'], bias=spec.get('bias', True))
    if t == 'conv':
        return nn.Conv2d(spec['cIn'], spec['cOut'], spec['k'], stride=spec.get('stride', 1),
                         padding=spec.get('padding', 0), bias=spec.get('bias', True))
    if t == 'maxpool':
        return nn.MaxPool2d(spec['k'], stride=spec.get('stride'), padding=spec.get('padding', 0))
    if t == 'avgpool':
        return nn.AvgPool2d(spec['k'], stride=spec.get('stride'), padding=spec.get('padding', 0),
                            count_include_pad=True)
    if t == 'relu':
        return nn.ReLU()
    if t == 'flatten':
        return nn.Flatten()
    if t == 'batchnorm':
        return nn.BatchNorm2d(spec['c'])
    raise ValueError(t)


def apply_masks(module, masks):
    """Zero pruned weights and mask their gradients (hooks), as torch.nn.utils.prune does."""
    with torch.no_grad():
        for name, m in masks.items():
            p = dict(module.named_parameters())[name]
            p.mul_(m)
            p.register_hook(lambda g, m=m: g * m)


def layer_case(name, spec, in_shape, n, seed, mode='train', mask_density=None):
    gen = torch.Generator().manual_seed(seed)
    layer = make_layer(spec).to(torch.float64)
    with torch.no_grad():
        for p_name, p in layer.named_parameters():
            p.copy_(randn32(gen, *p.shape, scale=0.5))
        if spec['type'] == 'batchnorm' and mode == 'eval':
            layer.running_mean.copy_(randn32(gen, spec['c'], scale=0.3))
            layer.running_var.copy_(randn32(gen, spec['c'], scale=0.3).abs() + 0.5)
    masks = {}
    if mask_density is not None:
        w = layer.weight
        masks['weight'] = (torch.rand(w.shape, generator=gen) < mask_density).to(torch.float64)
        apply_masks(layer, masks)
    layer.train(mode == 'train')
    x = randn32(gen, n, *in_shape).requires_grad_(True)
    params0 = {k: flat(v) for k, v in layer.named_parameters()}
    buffers0 = {k: flat(v) for k, v in layer.named_buffers() if k != 'num_batches_tracked'}
    y = layer(x)
    dy = randn32(gen, *y.shape)
    y.backward(dy)
    case = {
        'name': name, 'spec': spec, 'inShape': list(in_shape), 'N': n, 'mode': mode,
        'x': flat(x), 'params': params0, 'buffers': buffers0,
        'masks': {k: flat(v) for k, v in masks.items()},
        'dy': flat(dy), 'y': flat(y), 'outShape': list(y.shape[1:]), 'dx': flat(x.grad),
        'grads': {k: flat(v.grad) for k, v in layer.named_parameters()},
        'buffersAfter': {k: flat(v) for k, v in layer.named_buffers() if k != 'num_batches_tracked'},
    }
    if len(params0) > 0:
        for opt_name, make_opt in (('adam', lambda ps: torch.optim.Adam(ps, **ADAM)),
                                   ('sgd', lambda ps: torch.optim.SGD(ps, **SGD))):
            with torch.no_grad():
                for k, p in layer.named_parameters():
                    p.copy_(torch.tensor(params0[k], dtype=torch.float64).reshape(p.shape))
            opt = make_opt(list(layer.parameters()))
            steps = []
            for _ in range(2):
                opt.zero_grad()
                layer(x.detach()).backward(dy)
                opt.step()
                steps.append({k: flat(v) for k, v in layer.named_parameters()})
            case[opt_name] = steps
    return case


class SmallConvNet(nn.Module):
    """The TypeScript test builds the same layers with the same names."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
        self.classifier = nn.Linear(24, 5)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def convnet_case(seed):
    gen = torch.Generator().manual_seed(seed)
    net = SmallConvNet().to(torch.float64)
    with torch.no_grad():
        for _, p in net.named_parameters():
            p.copy_(randn32(gen, *p.shape, scale=0.4))
    masks = {}
    for name in ('features.4.weight', 'classifier.weight'):
        p = dict(net.named_parameters())[name]
        masks[name] = (torch.rand(p.shape, generator=gen) < 0.5).to(torch.float64)
    apply_masks(net, masks)
    n = 4
    x = randn32(gen, n, 3, 8, 8)
    labels = torch.tensor([0, 3, 1, 4])
    params0 = {k: flat(v) for k, v in net.named_parameters()}
    state0 = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    logits = net(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    case = {
        'N': n, 'inShape': [3, 8, 8], 'classes': 5, 'x': flat(x), 'labels': labels.tolist(),
        'params': params0, 'masks': {k: flat(v) for k, v in masks.items()},
        'logits': flat(logits), 'loss': float(loss),
        'correct': int((logits.argmax(1) == labels).sum()),
        'grads': {k: flat(v.grad) for k, v in net.named_parameters()},
        'buffersAfter': {k: flat(v) for k, v in net.named_buffers() if not k.endswith('num_batches_tracked')},
    }
    for opt_name, make_opt in (('adam', lambda ps: torch.optim.Adam(ps, **ADAM)),
                               ('sgd', lambda ps: torch.optim.SGD(ps, **SGD))):
        net.load_state_dict(state0)
        opt = make_opt(list(net.parameters()))
        steps = []
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(net(x), labels).backward()
            opt.step()
            steps.append({k: flat(v) for k, v in net.named_parameters()})
        net.eval()
        with torch.no_grad():
            case[opt_name] = {'steps': steps, 'evalLogits': flat(net(x)),
                              'buffers': {k: flat(v) for k, v in net.named_buffers() if not k.endswith('num_batches_tracked')}}
        net.train()
    return case


# The zoo as usually written in PyTorch (docs/models.md shows the same code). Their state-dict
# names and shapes, in order, are written to zoo.json; test/models checks the TypeScript zoo
# against them, so weights and masks move between the two without renaming or reshaping.
class LeNet300100(nn.Module):
    def __init__(self, inputs=784, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(inputs, 300); self.fc2 = nn.Linear(300, 100); self.fc3 = nn.Linear(100, classes)
    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

class ConvNet(nn.Module):
    """conv2: [64, 64, 'M'], conv4: + [128, 128, 'M'], conv6: + [256, 256, 'M']"""
    def __init__(self, stages, in_shape=(3, 32, 32), classes=10):
        super().__init__()
        layers, c, h = [], in_shape[0], in_shape[1]
        for s in stages:
            if s == 'M':
                layers.append(nn.MaxPool2d(2)); h //= 2
            else:
                layers += [nn.Conv2d(c, s, 3, padding=1), nn.ReLU()]; c = s
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(c * h * h, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, classes))
    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))

class VGG19(nn.Module):
    CFG = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512]
    def __init__(self, in_channels=3, classes=10):
        super().__init__()
        layers, c = [], in_channels
        for s in self.CFG:
            if s == 'M':
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, s, 3, padding=1), nn.BatchNorm2d(s), nn.ReLU()]; c = s
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, classes)
    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def zoo_case():
    out = []
    for name, make in (('lenet-300-100', lambda c, h: LeNet300100(c * h * h)),
                       ('conv2', lambda c, h: ConvNet([64, 64, 'M'], (c, h, h))),
                       ('conv4', lambda c, h: ConvNet([64, 64, 'M', 128, 128, 'M'], (c, h, h))),
                       ('conv6', lambda c, h: ConvNet([64, 64, 'M', 128, 128, 'M', 256, 256, 'M'], (c, h, h))),
                       ('vgg19', lambda c, h: VGG19(c))):
        for c, h in ((1, 28), (3, 32)):
            model = make(c, h)
            out.append({'model': name, 'inputShape': [c, h, h],
                        'state': [[k, list(v.shape)] for k, v in model.state_dict().items()],
                        'prunable': sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))),
                        'params': sum(p.numel() for p in model.parameters())})
    return out


def main():
    torch.manual_seed(0)
    cases = [
        layer_case('linear', {'type': 'linear', 'in': 7, 'out': 5}, [7], 3, 1),
        layer_case('linear-masked', {'type': 'linear', 'in': 6, 'out': 4}, [6], 2, 2, mask_density=0.5),
        layer_case('conv3x3-same', {'type': 'conv', 'cIn': 3, 'cOut': 4, 'k': 3, 'padding': 1}, [3, 6, 5], 2, 3),
        layer_case('conv3x3-stride2', {'type': 'conv', 'cIn': 2, 'cOut': 3, 'k': 3, 'stride': 2}, [2, 7, 7], 2, 4),
        layer_case('conv1x1-nobias', {'type': 'conv', 'cIn': 3, 'cOut': 2, 'k': 1, 'bias': False}, [3, 4, 4], 1, 5),
        layer_case('conv3x3-masked', {'type': 'conv', 'cIn': 2, 'cOut': 3, 'k': 3, 'padding': 1}, [2, 5, 5], 2, 6, mask_density=0.4),
        layer_case('maxpool2', {'type': 'maxpool', 'k': 2}, [2, 4, 6], 2, 7),
        layer_case('maxpool3-s2-p1', {'type': 'maxpool', 'k': 3, 'stride': 2, 'padding': 1}, [2, 5, 5], 2, 8),
        layer_case('avgpool2', {'type': 'avgpool', 'k': 2}, [2, 4, 6], 2, 9),
        layer_case('avgpool3-s2-p1', {'type': 'avgpool', 'k': 3, 'stride': 2, 'padding': 1}, [2, 5, 5], 2, 10),
        layer_case('relu', {'type': 'relu'}, [3, 4, 4], 2, 11),
        layer_case('flatten', {'type': 'flatten'}, [2, 3, 3], 2, 12),
        layer_case('batchnorm-train', {'type': 'batchnorm', 'c': 3}, [3, 4, 5], 4, 13, mode='train'),
        layer_case('batchnorm-eval', {'type': 'batchnorm', 'c': 3}, [3, 2, 3], 3, 14, mode='eval'),
    ]
    meta = {'generator': 'scripts/torch_fixtures.py', 'torch': torch.__version__, 'adam': ADAM,
            'sgd': {k: v for k, v in SGD.items()}}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, 'layers.json'), 'w') as f:
        json.dump({'meta': meta, 'cases': cases}, f, separators=(',', ':'))
    with open(os.path.join(OUT, 'convnet.json'), 'w') as f:
        json.dump({'meta': meta, 'case': convnet_case(21)}, f, separators=(',', ':'))
    with open(os.path.join(OUT, 'zoo.json'), 'w') as f:
        json.dump({'meta': meta, 'models': zoo_case()}, f, separators=(',', ':'))
    print('wrote', OUT)


if __name__ == '__main__':
    main()
