/**
 * `ramanujan doctor [--json]`: what this machine offers the engine: Node's version, the compute
 * threads, the WebGPU adapters found (software ones marked; the llvmpipe one is looked for too,
 * since doctor is where one checks a CI or test machine) and the backend `device: auto` picks.
 */
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('doctor')
    .description('print Node\'s version, the compute threads, the GPU adapters found and the backend device auto would pick')
    .option('--json', 'print one JSON object', false)
    .action(async (opts: { json: boolean }) => {
      const [{ gpuReport }, { describeAdapter }] = await Promise.all([import('../../engine/device.js'), import('../../engine/webgpu/index.js')]);
      const gpu = await gpuReport();
      const threads = availableParallelism();
      const auto = gpu.auto === 'webgpu'
        ? `webgpu on ${describeAdapter(gpu.adapters.find((a) => !a.software)!)}`
        : `wasm on ${threads} thread${threads === 1 ? '' : 's'} (no hardware GPU adapter)`;
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ node: process.version, platform: `${process.platform}-${process.arch}`, threads, webgpuLoadError: gpu.loadError || null, hardwareProbeSkipped: gpu.hardwareSkipped || null, adapters: gpu.adapters, auto: gpu.auto })}\n`);
        return;
      }
      const lines = [
        `node      ${process.version} (${process.platform}-${process.arch})`,
        `threads   ${threads}`,
        `webgpu    ${gpu.loadError ? `not loaded: ${gpu.loadError}` : 'loaded (npm package webgpu, Dawn)'}`,
      ];
      if (gpu.hardwareSkipped) lines.push(`          hardware adapters not looked for: ${gpu.hardwareSkipped}`);
      if (gpu.adapters.length === 0) lines.push('adapters  none');
      gpu.adapters.forEach((a, i) => lines.push(`${i === 0 ? 'adapters ' : '         '} ${a.software ? 'software' : 'hardware'}: ${describeAdapter(a)}${a.description && a.description !== a.device ? ` [${a.description}]` : ''}`));
      lines.push(`auto      ${auto}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
