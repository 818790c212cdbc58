// Named pretrained weights: torchvision's ImageNet ResNet weights by name (resnet50.imagenet1k_v2,
// or torchvision's own spelling ResNet50_Weights.IMAGENET1K_V2), downloaded from the address
// torchvision uses, checked as torchvision checks them, and cached.
//
// The registry's facts are torchvision's (torchvision/models/resnet.py, ResNet{18,34,50,101,152}
// _Weights, as of torchvision 0.29.1, git 1f1a920d): each entry's url, num_params, _metrics
// (ImageNet-1K acc@1 / acc@5), _file_size (MiB), recipe, the DEFAULT member, and the eval
// transform partial(ImageClassification, crop_size=224[, resize_size=232]); ImageClassification's
// other arguments keep their defaults (torchvision/transforms/_presets.py): resize_size 256,
// mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), interpolation BILINEAR, antialias True.
// _COMMON_META's categories are ImageNet's 1000 classes.
//
// The check is torch.hub's (torch/hub.py), which torchvision asks for with check_hash=True: the
// file name's first match of HASH_REGEX `-([a-f0-9]*)\.` is a prefix of the SHA-256 of the file's
// bytes ("resnet50-11ad3fa6.pth": the digest starts with 11ad3fa6).
//
// Where files go (XDG, as the rest of the project's cache): $RESNET_NATIVE_CACHE/weights, default
// ${XDG_CACHE_HOME:-~/.cache}/resnet-native/weights, under torchvision's file name. A file that
// torch.hub already downloaded ($TORCH_HOME/hub/checkpoints, TORCH_HOME defaulting to
// ${XDG_CACHE_HOME:-~/.cache}/torch, torch.hub's own rule) is used where it is, as torch.hub
// itself would. RESNET_NATIVE_WEIGHTS_URL replaces https://download.pytorch.org/models (a mirror).
//
// A download goes to <file>.part (continued with a Range request after a cut), is checked, then
// renamed into place: the cache never holds a half file under the real name. <file>.lock keeps two
// processes (the ranks of a data-parallel run) from writing one .part at once: the second waits.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointError, WeightsDownloadError } from '../error-classes';
import { workerFile } from '../worker-file';
import { makeFolder } from './files';
import { fetchToPart, fileDigest, type PartDownloadOptions } from './http-download';

export { WeightsDownloadError };

/** Where torchvision's weights are: https://download.pytorch.org/models/<file name>. */
export const TORCHVISION_WEIGHTS_BASE_URL = 'https://download.pytorch.org/models';

export type PretrainedArch = 'resnet18' | 'resnet34' | 'resnet50' | 'resnet101' | 'resnet152';

/** How torchvision prepares an image for these weights at evaluation (its ImageClassification
 * preset): resize the short side to `resizeSize`, center-crop `cropSize`, scale to [0, 1],
 * normalize with `mean` / `std` (RGB). */
export interface PretrainedEvalTransform {
  resizeSize: number;
  cropSize: number;
  interpolation: 'bilinear';
  antialias: boolean;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export interface PretrainedWeights {
  /** This library's name: '<arch>.imagenet1k_v<n>' (names are matched case-insensitively). */
  readonly name: string;
  /** torchvision's name: 'ResNet50_Weights.IMAGENET1K_V2'. */
  readonly torchvisionName: string;
  readonly arch: PretrainedArch;
  /** The address torchvision downloads from. */
  readonly url: string;
  /** The file's name (the cache's too): '<arch>-<sha256 prefix>.pth'. */
  readonly fileName: string;
  /** The first hex digits of the file's SHA-256, from its name (torch.hub's check). */
  readonly sha256Prefix: string;
  /** torchvision's <Arch>_Weights.DEFAULT (also reached as '<arch>.default'). */
  readonly isDefault: boolean;
  /** ImageNet-1K's 1000 classes (torchvision's _IMAGENET_CATEGORIES, in their order). */
  readonly numClasses: 1000;
  readonly numParams: number;
  /** torchvision's _file_size, in MiB. */
  readonly fileSizeMiB: number;
  readonly evalTransform: PretrainedEvalTransform;
  /** As torchvision reports them (its _metrics), in percent. */
  readonly metrics: { readonly dataset: 'ImageNet-1K'; readonly acc1: number; readonly acc5: number };
  /** How they were trained (torchvision's recipe link). */
  readonly recipe: string;
}

/** torch.hub's HASH_REGEX: the hex digits after a '-' and before a '.' in a file name. */
const HASH_REGEX = /-([a-f0-9]*)\./;

/** The SHA-256 prefix a file name carries (torch.hub's rule), or null. */
export function sha256PrefixOf(fileName: string): string | null {
  return HASH_REGEX.exec(fileName)?.[1] ?? null;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
// torchvision's recipes: V1 "reproduce closely the results of the paper using a simple training
// recipe", V2 its new training recipe (https://github.com/pytorch/vision/issues/3995).
const V1_RECIPE = 'https://github.com/pytorch/vision/tree/main/references/classification#resnet';

function weights(
  arch: PretrainedArch,
  version: 1 | 2,
  url: string,
  facts: { numParams: number; acc1: number; acc5: number; fileSizeMiB: number; recipe: string; isDefault: boolean },
): PretrainedWeights {
  const fileName = path.posix.basename(new URL(url).pathname);
  const prefix = sha256PrefixOf(fileName);
  if (!prefix) throw new Error(`registry: ${url} carries no hash in its name`);
  const archPart = arch.replace('resnet', 'ResNet');
  return Object.freeze({
    name: `${arch}.imagenet1k_v${version}`,
    torchvisionName: `${archPart}_Weights.IMAGENET1K_V${version}`,
    arch,
    url,
    fileName,
    sha256Prefix: prefix,
    isDefault: facts.isDefault,
    numClasses: 1000,
    numParams: facts.numParams,
    fileSizeMiB: facts.fileSizeMiB,
    // V1: ImageClassification(crop_size=224) (resize 256); V2: crop_size=224, resize_size=232
    evalTransform: Object.freeze({ resizeSize: version === 1 ? 256 : 232, cropSize: 224, interpolation: 'bilinear', antialias: true, mean: IMAGENET_MEAN, std: IMAGENET_STD }),
    metrics: Object.freeze({ dataset: 'ImageNet-1K', acc1: facts.acc1, acc5: facts.acc5 }),
    recipe: facts.recipe,
  } as const);
}

/** Every torchvision ResNet ImageNet weight, by name (from torchvision/models/resnet.py). */
export const PRETRAINED_WEIGHTS: readonly PretrainedWeights[] = Object.freeze([
  weights('resnet18', 1, 'https://download.pytorch.org/models/resnet18-f37072fd.pth', { numParams: 11_689_512, acc1: 69.758, acc5: 89.078, fileSizeMiB: 44.661, recipe: V1_RECIPE, isDefault: true }),
  weights('resnet34', 1, 'https://download.pytorch.org/models/resnet34-b627a593.pth', { numParams: 21_797_672, acc1: 73.314, acc5: 91.42, fileSizeMiB: 83.275, recipe: V1_RECIPE, isDefault: true }),
  weights('resnet50', 1, 'https://download.pytorch.org/models/resnet50-0676ba61.pth', { numParams: 25_557_032, acc1: 76.13, acc5: 92.862, fileSizeMiB: 97.781, recipe: V1_RECIPE, isDefault: false }),
  weights('resnet50', 2, 'https://download.pytorch.org/models/resnet50-11ad3fa6.pth', {
    numParams: 25_557_032,
    acc1: 80.858,
    acc5: 95.434,
    fileSizeMiB: 97.79,
    recipe: 'https://github.com/pytorch/vision/issues/3995#issuecomment-1013906621',
    isDefault: true,
  }),
  weights('resnet101', 1, 'https://download.pytorch.org/models/resnet101-63fe2227.pth', { numParams: 44_549_160, acc1: 77.374, acc5: 93.546, fileSizeMiB: 170.511, recipe: V1_RECIPE, isDefault: false }),
  weights('resnet101', 2, 'https://download.pytorch.org/models/resnet101-cd907fc2.pth', {
    numParams: 44_549_160,
    acc1: 81.886,
    acc5: 95.78,
    fileSizeMiB: 170.53,
    recipe: 'https://github.com/pytorch/vision/issues/3995#new-recipe',
    isDefault: true,
  }),
  weights('resnet152', 1, 'https://download.pytorch.org/models/resnet152-394f9c45.pth', { numParams: 60_192_808, acc1: 78.312, acc5: 94.046, fileSizeMiB: 230.434, recipe: V1_RECIPE, isDefault: false }),
  weights('resnet152', 2, 'https://download.pytorch.org/models/resnet152-f82ba261.pth', {
    numParams: 60_192_808,
    acc1: 82.284,
    acc5: 96.002,
    fileSizeMiB: 230.474,
    recipe: 'https://github.com/pytorch/vision/issues/3995#new-recipe',
    isDefault: true,
  }),
]);

/** The names `weights` accepts, as a sentence's list. */
function knownNames(): string {
  return `${PRETRAINED_WEIGHTS.map((w) => w.name).join(', ')} (any case; torchvision's spelling too, e.g. ResNet50_Weights.IMAGENET1K_V2, and <arch>.default)`;
}

/**
 * The registry entry `name` names, or undefined. Case-insensitive; 'resnet50.imagenet1k_v2',
 * torchvision's 'ResNet50_Weights.IMAGENET1K_V2' and 'resnet50.DEFAULT' (torchvision's DEFAULT)
 * all work.
 */
export function findPretrained(name: string): PretrainedWeights | undefined {
  const match = /^(resnet\d+)(?:_weights)?\.(imagenet1k_v\d+|default)$/.exec(name.trim().toLowerCase());
  if (!match) return undefined;
  const [, arch, version] = match;
  return PRETRAINED_WEIGHTS.find((w) => w.arch === arch && (version === 'default' ? w.isDefault : w.name === `${arch}.${version}`));
}

/** The registry entry `name` names; an unknown name throws a CheckpointError listing the known ones. */
export function resolvePretrained(name: string): PretrainedWeights {
  const found = findPretrained(name);
  if (!found) throw new CheckpointError(`'${name}' is not the name of pretrained weights; known names: ${knownNames()}`);
  return found;
}

function xdgCacheHome(env: NodeJS.ProcessEnv): string {
  return env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
}

/** Where downloaded weights are kept: $RESNET_NATIVE_CACHE/weights, default
 * ${XDG_CACHE_HOME:-~/.cache}/resnet-native/weights (the cache scripts/libtorch.js uses). */
export function weightsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.RESNET_NATIVE_CACHE ? path.resolve(env.RESNET_NATIVE_CACHE) : path.join(xdgCacheHome(env), 'resnet-native');
  return path.join(root, 'weights');
}

/** torch.hub's folder of downloaded weights: $TORCH_HOME/hub/checkpoints, TORCH_HOME defaulting
 * to ${XDG_CACHE_HOME:-~/.cache}/torch (torch.hub.get_dir()). */
export function torchHubCheckpointsDir(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.TORCH_HOME ? path.resolve(env.TORCH_HOME) : path.join(xdgCacheHome(env), 'torch');
  return path.join(home, 'hub', 'checkpoints');
}

export interface PretrainedLocationOptions {
  /** Where downloads go; default weightsCacheDir() ($RESNET_NATIVE_CACHE/weights). */
  cacheDir?: string;
  /** A folder of torch.hub's to use files from as they are; default torchHubCheckpointsDir(),
   * null: none. */
  torchHubDir?: string | null;
  /** Replaces https://download.pytorch.org/models (a mirror holding torchvision's file names);
   * default $RESNET_NATIVE_WEIGHTS_URL, else torchvision's address. */
  baseUrl?: string;
}

/** The address `weights` is downloaded from (torchvision's, or the same file name under baseUrl /
 * $RESNET_NATIVE_WEIGHTS_URL). */
export function pretrainedUrl(weights: PretrainedWeights, baseUrl: string | undefined = process.env.RESNET_NATIVE_WEIGHTS_URL || undefined): string {
  return baseUrl ? `${baseUrl.replace(/\/+$/, '')}/${weights.fileName}` : weights.url;
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The file of `name` already on this machine (this library's cache, then torch.hub's), or null. */
export function cachedPretrained(name: string | PretrainedWeights, options: PretrainedLocationOptions = {}): string | null {
  const weights = typeof name === 'string' ? resolvePretrained(name) : name;
  const own = path.join(options.cacheDir ?? weightsCacheDir(), weights.fileName);
  if (isFile(own)) return own;
  const hub = options.torchHubDir === undefined ? torchHubCheckpointsDir() : options.torchHubDir;
  if (hub !== null && isFile(path.join(hub, weights.fileName))) return path.join(hub, weights.fileName);
  return null;
}

export interface HashedDownloadOptions extends PartDownloadOptions {
  /** The folder the file goes to; default weightsCacheDir(). */
  dir?: string;
  /** The file's name there; default the last part of the URL's path. */
  fileName?: string;
  /** The hex digits the file's SHA-256 must start with; default the ones in its name (torch.hub's
   * rule: name-<hex>.ext), at least 8 of them. */
  sha256Prefix?: string;
  /** Progress messages (waiting for another download, resuming, verifying). */
  log?: (message: string) => void;
}

export interface HashedDownloadResult {
  file: string;
  /** 'present': it was already there (no request made); 'downloaded' or 'resumed': fetched now. */
  status: 'present' | 'downloaded' | 'resumed';
}

export interface PretrainedDownloadResult extends HashedDownloadResult {
  weights: PretrainedWeights;
}

export type PretrainedDownloadOptions = PretrainedLocationOptions & PartDownloadOptions & { log?: (message: string) => void };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A download lock whose owner is gone: a process of this machine that no longer runs, or (an
 * owner elsewhere, or a lock not yet written) nothing touched for 10 minutes. */
function lockIsStale(lock: string, part: string): boolean {
  let owner = '';
  let touched = 0;
  try {
    owner = fs.readFileSync(lock, 'utf8').trim();
    touched = fs.statSync(lock).mtimeMs;
  } catch {
    return false; // gone already: the next attempt takes it
  }
  try {
    touched = Math.max(touched, fs.statSync(part).mtimeMs);
  } catch {
    // no part yet
  }
  const [host, pid] = owner.split(' ');
  if (host === os.hostname() && Number.isSafeInteger(Number(pid)) && Number(pid) > 0) return !isAlive(Number(pid));
  return Date.now() - touched > 10 * 60_000;
}

/** Runs `fn` holding <file>.lock: one download of a file at a time, across processes. */
async function withDownloadLock<T>(file: string, log: (m: string) => void, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(lock, `${os.hostname()} ${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (lockIsStale(lock, `${file}.part`)) {
      fs.rmSync(lock, { force: true });
      continue;
    }
    if (!told) log(`waiting for another download of ${path.basename(file)} (${lock})`);
    told = true;
    await sleep(200);
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/**
 * Downloads `url` into a folder (default the weights cache) unless the file is there already, and
 * checks it as torch.hub's load_state_dict_from_url(check_hash=True) does: the SHA-256 of the
 * bytes must start with the hex digits in the file's name (name-<hex>.ext). Resumable: a cut
 * download continues from its .part file with a Range request. A wrong digest deletes the
 * download and throws naming both; the file appears under its name only once checked.
 */
export async function downloadWeightsFile(url: string, options: HashedDownloadOptions = {}): Promise<HashedDownloadResult> {
  const log = options.log ?? (() => {});
  let fileName = options.fileName;
  if (fileName === undefined) {
    try {
      fileName = decodeURIComponent(path.posix.basename(new URL(url).pathname));
    } catch {
      throw new WeightsDownloadError(`${url} is not a URL`);
    }
  }
  if (!fileName || fileName === '.' || fileName === '..' || /[/\\]/.test(fileName)) throw new WeightsDownloadError(`${url}: '${fileName}' cannot be a file name`);
  const prefix = (options.sha256Prefix ?? sha256PrefixOf(fileName) ?? '').toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(prefix)) {
    throw new WeightsDownloadError(
      options.sha256Prefix === undefined
        ? `${fileName} carries no SHA-256 prefix of at least 8 hex digits in its name (name-<hex>.ext, as torch.hub's check_hash expects): nothing to check the download against`
        : `sha256Prefix must be 8 to 64 hex digits, got '${options.sha256Prefix}'`,
    );
  }
  const dir = path.resolve(options.dir ?? weightsCacheDir());
  const file = path.join(dir, fileName);
  if (isFile(file)) return { file, status: 'present' };
  try {
    makeFolder(dir, 'weights cache folder');
  } catch (err) {
    throw new WeightsDownloadError(`${(err as Error).message} (set RESNET_NATIVE_CACHE to another folder)`);
  }
  return withDownloadLock(file, log, async () => {
    if (isFile(file)) return { file, status: 'present' }; // the download we waited for
    const part = `${file}.part`;
    log(`downloading ${url} to ${file}`);
    let status: 'downloaded' | 'resumed';
    try {
      status = await fetchToPart(url, part, options, (m) => new WeightsDownloadError(m));
    } catch (err) {
      if (err instanceof WeightsDownloadError) throw err;
      throw new WeightsDownloadError(`downloading ${url} failed: ${(err as Error).message}`);
    }
    log('verifying sha256');
    const actual = await fileDigest(part, 'sha256');
    if (!actual.startsWith(prefix)) {
      fs.rmSync(part, { force: true });
      throw new WeightsDownloadError(
        `${url}: sha256 is ${actual}, expected one starting with ${prefix} (the hash in its name, checked as torchvision does); the download was deleted, try again`,
      );
    }
    const fd = fs.openSync(part, 'r+');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(part, file);
    return { file, status };
  });
}

/** The file of pretrained weights `name`: from the cache (no request), or downloaded now (see
 * downloadWeightsFile; progress through onProgress / log). */
export async function downloadPretrained(name: string, options: PretrainedDownloadOptions = {}): Promise<PretrainedDownloadResult> {
  const weights = resolvePretrained(name);
  const cached = cachedPretrained(weights, options);
  if (cached) return { file: cached, status: 'present', weights };
  const url = pretrainedUrl(weights, options.baseUrl ?? (process.env.RESNET_NATIVE_WEIGHTS_URL || undefined));
  const { cacheDir, torchHubDir: _hub, baseUrl: _base, ...rest } = options;
  const result = await downloadWeightsFile(url, { ...rest, dir: cacheDir ?? weightsCacheDir(), fileName: weights.fileName, sha256Prefix: weights.sha256Prefix });
  return { ...result, weights };
}

/** What the download process (pretrained-download-child.ts) is asked to fetch. */
export type ChildDownloadRequest =
  | { name: string; progress: boolean }
  | { url: string; dir?: string; progress: boolean };

/** What it answers on stdout, one JSON line. */
export type ChildDownloadAnswer = { ok: true; file: string; status: HashedDownloadResult['status'] } | { ok: false; className: string; message: string };

/** Runs a download to its end in a process of its own and waits (the synchronous APIs'
 * way to download). Its progress bar goes straight to this process's stderr. */
function downloadInChild(request: ChildDownloadRequest, what: string): string {
  const child = spawnSync(process.execPath, [workerFile('io/pretrained-download-child.js'), JSON.stringify(request)], {
    stdio: ['ignore', 'pipe', request.progress ? 'inherit' : 'ignore'],
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (child.error) throw new WeightsDownloadError(`downloading ${what} could not start a process: ${child.error.message}`);
  const last = child.stdout.trim().split('\n').at(-1) ?? '';
  let answer: ChildDownloadAnswer | null = null;
  try {
    answer = JSON.parse(last) as ChildDownloadAnswer;
  } catch {
    // no answer: it was killed (Ctrl-C reaches it too) or crashed
  }
  if (answer?.ok) return answer.file;
  if (answer) throw answer.className === 'CheckpointError' ? new CheckpointError(answer.message) : new WeightsDownloadError(answer.message);
  const how = child.signal ? `was stopped by ${child.signal}` : `ended with code ${child.status}`;
  throw new WeightsDownloadError(`downloading ${what} ${how} before it finished; what arrived is kept and the next try resumes`);
}

/** downloadWeightsFile(), waiting for it: for the synchronous APIs (a factory's `weights`). */
export function downloadWeightsFileSync(url: string, options: { dir?: string; progress?: boolean } = {}): string {
  return downloadInChild({ url, dir: options.dir, progress: options.progress ?? true }, url);
}

/** Refuses pretrained weights named for another architecture than `arch` (before any download);
 * a value that is an existing file, or no name, passes. */
export function checkPretrainedArch(value: string, arch: string): void {
  const named = findPretrained(value);
  if (!named || named.arch === arch || fs.existsSync(value)) return;
  const own = PRETRAINED_WEIGHTS.filter((w) => w.arch === arch).map((w) => w.name);
  throw new CheckpointError(`${value} are weights for ${named.arch}, not ${arch}: use ${own.length > 0 ? `${own.join(' or ')}, or ` : ''}the ${named.arch} architecture`);
}

/**
 * The file a `weights` value stands for, synchronously: a path that exists is itself; otherwise
 * a pretrained name gives its cached file, downloaded first when needed (in a child process,
 * with a progress bar on stderr unless `progress` is false; the cache, mirror and torch.hub
 * folder come from the environment: RESNET_NATIVE_CACHE, RESNET_NATIVE_WEIGHTS_URL, TORCH_HOME).
 * Anything else throws a CheckpointError saying the file does not exist and listing the names.
 */
export function resolveWeightsFile(value: string, options: { progress?: boolean } = {}): string {
  try {
    fs.statSync(value);
    return value; // whatever it is: the weights reader says what is wrong with it
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return value;
  }
  const weights = findPretrained(value);
  if (!weights) throw new CheckpointError(`weights file ${value} does not exist, and it is not the name of pretrained weights: known names are ${knownNames()}`);
  return cachedPretrained(weights) ?? downloadInChild({ name: weights.name, progress: options.progress ?? true }, weights.name);
}
