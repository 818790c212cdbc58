// Every error class the library throws, in one leaf module (it imports nothing). Their domain
// modules re-export them; the worker boundary (worker-errors.ts) rebuilds any error posted from a
// thread as its own class by looking it up here, so a class added here crosses threads as itself.

/** The error of a training run that could not start or go on (bad options, a folder that cannot
 * take checkpoints, a loss that became NaN, cancellation). */
export class TrainingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingError';
  }
}

/** A data set (CIFAR-10 files, their class names) that cannot be read as one. */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** One image file of a data set that cannot be used: missing, unreadable, not an image, too large,
 * or failing to decode. `file` is its path as the data set names it; `reason` says what is wrong. */
export class ImageFileError extends DatasetError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'ImageFileError';
  }
}

/** The bad files of a data set, all found before training: `bad` lists each (file, reason). */
export class BadImagesError extends DatasetError {
  constructor(
    message: string,
    readonly bad: { file: string; reason: string }[],
  ) {
    super(message);
    this.name = 'BadImagesError';
  }
}

/** A weights or checkpoint file that cannot be read, or does not describe what it must. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Pretrained weights that could not be downloaded: the server failed, the connection was cut
 * (what arrived is kept and the next try resumes), or the file's SHA-256 is not the one its name
 * promises (the file is deleted). */
export class WeightsDownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightsDownloadError';
  }
}

/** A pickle (inside a .pth) that is corrupt or asks for something a state dict never holds. */
export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

/** A state dict that does not fit; names the keys. */
export class StateDictError extends Error {
  constructor(
    message: string,
    readonly missing: string[],
    readonly unexpected: string[],
  ) {
    super(message);
    this.name = 'StateDictError';
  }
}

/** A worker thread that ended (crashed, exited or was closed) before its work was done. */
export class WorkerThreadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerThreadError';
  }
}

/**
 * Joining the group or a collective failed. Names this rank, the operation and, where the
 * heartbeats tell, the ranks at fault (`failedRanks`: gone, or alive but behind).
 */
export class DistributedError extends Error {
  constructor(
    message: string,
    readonly rank: number,
    readonly worldSize: number,
    readonly failedRanks: number[] = [],
  ) {
    super(message);
    this.name = 'DistributedError';
  }
}

/** Why joining a data-parallel job failed; `missing` are the ranks that had not joined. */
export class JoinError extends Error {
  constructor(
    message: string,
    readonly missing: number[] = [],
  ) {
    super(message);
    this.name = 'JoinError';
  }
}

/** An error with the HTTP status (and headers) the server answers it with. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
