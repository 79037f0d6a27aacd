// Winux behind real nginx (Debian's nginx) from deploy/nginx.conf, with Chromium over HTTPS.
import { proxySuite } from './suite.ts';
import { startNginx } from './proxies.ts';

proxySuite('nginx', startNginx);
