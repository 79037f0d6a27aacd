#!/usr/bin/env node
// The `winux` command. Sources are TypeScript, run through tsx's loader: there is
// no build step and no generated output to keep in sync.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
