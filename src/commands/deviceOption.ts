/**
 * `--device auto|cpu|cuda|vulkan|metal`: the one option declaration and the one resolver every
 * command that computes uses (finetune, unlearn, eval, generate, logprobs, influence,
 * compare-targets, pretrain, rum *, bench, demo, doctor, serve).
 *
 * The value comes from --device, else UNLEARNKIT_DEVICE, else 'auto'. `resolveDevice` checks it
 * before any work: an unknown value is a UserError listing the choices, a device that does not
 * exist on this platform (metal on Linux, cuda on macOS) a UserError saying so. It then sets the
 * engine's device (engine.ts setEngineDevice) and, for an explicit device, loads the engine at once,
 * so that a device that cannot be used (no driver, no CUDA runtime) fails before the command reads
 * data or trains. UNLEARNKIT_DEVICE is set to the choice, so child processes use the same device.
 */
import { Option, type Command } from 'commander';
import { DEVICE_CHOICES, deviceSupportError, type DeviceChoice } from '../engine/loader.ts';
import { getEngine, setEngineDevice } from '../engine/engine.ts';
import { UserError } from '../util/errors.ts';
import { commanderOption, deviceDecl } from '../options/index.ts';

/** The environment variable that gives the default device. */
const DEVICE_ENV = 'UNLEARNKIT_DEVICE';

/**
 * The `--device <device>` option, for `.addOption(deviceOption())` in a command's chain. It has no
 * commander default: resolveDevice applies UNLEARNKIT_DEVICE, then 'auto'.
 */
export function deviceOption(description?: string): Option {
  // declared in src/options/declarations.ts (deviceDecl) with the other options; its choices are the engine's
  return description ? new Option(`${deviceDecl.flag} ${deviceDecl.arg}`, description) : commanderOption(deviceDecl);
}

/** Declare `--device <device>` on a command. */
export function addDeviceOption<C extends Command>(cmd: C, description?: string): C {
  cmd.addOption(deviceOption(description));
  return cmd;
}

export interface ResolveDeviceOptions {
  /**
   * 'load' (default): set the engine's device and, for an explicit device, load the engine now.
   * 'set': set the engine's device only (doctor, which loads it itself and reports failures).
   * 'none': validate only (serve, which computes through node-llama-cpp, not our engine).
   */
  engine?: 'load' | 'set' | 'none';
  env?: Record<string, string | undefined>;
  platform?: string;
  arch?: string;
}

/** Check a device value; `source` names where it came from (for the message). */
export function parseDevice(value: string, source: string, platform: string = process.platform, arch: string = process.arch): DeviceChoice {
  if (!(DEVICE_CHOICES as readonly string[]).includes(value)) {
    throw new UserError(`${source}: unknown device '${value}'; choose one of ${DEVICE_CHOICES.join(', ')}`);
  }
  const choice = value as DeviceChoice;
  const why = deviceSupportError(choice, platform, arch);
  if (why) throw new UserError(`${source} ${choice}: ${why}`);
  return choice;
}

/**
 * The device a command runs on (from `opts.device`, UNLEARNKIT_DEVICE or 'auto'), validated and
 * applied to the engine before any work; see the module comment.
 */
export function resolveDevice(opts: { device?: unknown }, o: ResolveDeviceOptions = {}): DeviceChoice {
  const env = o.env ?? process.env;
  const flag = opts.device === undefined ? undefined : String(opts.device);
  const fromEnv = env[DEVICE_ENV] || undefined;
  const source = flag === undefined && fromEnv !== undefined ? DEVICE_ENV : '--device';
  const choice = parseDevice(flag ?? fromEnv ?? 'auto', source, o.platform, o.arch);
  env[DEVICE_ENV] = choice;
  const mode = o.engine ?? 'load';
  if (mode !== 'none') {
    setEngineDevice(choice);
    if (mode === 'load' && choice !== 'auto') getEngine();
  }
  return choice;
}
