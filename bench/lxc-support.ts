// The bench re-uses the LXC test helpers (host preparation, Xvfb, judged RDP logins).
export { lxcConfig, lxcRange, prepareHost, rdpLogin, startXvfb } from '../test/providers/lxc/helpers.ts';
export { tempDir } from '../test/support/server.ts';
