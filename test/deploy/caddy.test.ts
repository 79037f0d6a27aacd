// Winux behind real Caddy (Debian's caddy) from deploy/Caddyfile, with Chromium over HTTPS.
import { proxySuite } from './suite.ts';
import { startCaddy } from './proxies.ts';

proxySuite('caddy', startCaddy);
