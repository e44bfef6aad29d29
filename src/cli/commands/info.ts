import type { Argv } from 'yargs';
import * as ort from 'onnxruntime-node';
import { loadAddon } from '../../engine/native';
import { packageVersion } from '../../util/paths';

export function registerInfo(y: Argv): Argv {
  return y.command(
    'info',
    'Show the version, compiled backends, CUDA availability, GEMM, convolution kernel and threads',
    (a) => a.option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' }),
    (args) => {
      const info = loadAddon().info();
      const report = {
        version: packageVersion(),
        backends: info.backends,
        cuda: info.cuda,
        gemm: info.gemm,
        openblasAvailable: info.openblasAvailable,
        convKernel: info.convKernel,
        threads: info.threads,
        onnxruntime: { version: ort.env.versions.common, providers: ort.listSupportedBackends() },
      };
      if (args.json) {
        console.log(JSON.stringify(report, null, 2));
        return;
      }
      console.log(`cxrl-native ${report.version}`);
      console.log(`backends compiled: ${report.backends.join(', ')}`);
      console.log(
        info.cuda.usable
          ? `CUDA: usable (${info.cuda.deviceCount} device(s), ${info.cuda.deviceName})`
          : `CUDA: not usable: ${info.cuda.reason}`,
      );
      console.log(`GEMM: ${report.gemm}${report.openblasAvailable ? '' : ' (OpenBLAS not compiled in)'}`);
      console.log(`direct convolution kernel: ${report.convKernel}`);
      console.log(`threads: ${report.threads}`);
      console.log(
        `onnxruntime-node ${report.onnxruntime.version}: execution providers ${report.onnxruntime.providers.map((p) => `${p.name}${p.bundled ? '' : ' (libraries not bundled)'}`).join(', ')}`,
      );
    },
  );
}
