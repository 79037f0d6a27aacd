// How PVE reports failures: the message travels in the HTTP reason phrase (older
// releases put nothing else in the body), parameter errors come as 400 with an
// `errors` map, and anything a handler `die`s with is a 500.
export class PveHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
    this.name = 'PveHttpError';
  }
}

export const die = (message: string) => new PveHttpError(500, message);

export const paramError = (errors: Record<string, string>) => new PveHttpError(400, 'Parameter verification failed.', errors);

export const permError = (path: string, priv: string) => new PveHttpError(403, `Permission check failed (${path}, ${priv})`);

/** The text PVE gives for a guest whose config file is not on the node asked. */
export const noConfig = (node: string, vmid: number) => die(`Configuration file 'nodes/${node}/lxc/${vmid}.conf' does not exist`);
