// A tiny desktop-template recipe (WINUX_TEMPLATE_DIR) that writes a small root
// filesystem in a second, so the real LXC template code (hash, build, archive,
// unprivileged extraction, status) runs in tests that are not about the desktop.
// Its build holds at the `packages` step until the test opens a gate, so a test
// can look at a build while it runs.
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { recipeHash, templateControl } from '../../src/providers/lxc/template.ts';
import { tempDir } from './server.ts';

export interface FakeRecipe {
  config: Config;
  /** The provider's template methods over this recipe (providers/lxc/template.ts). */
  control: ReturnType<typeof templateControl>;
  hash(): Promise<string>;
  /** Changes the recipe (so its hash changes) and closes the gate: the next build waits at `packages`. */
  change(version: string): void;
  /** Lets a waiting build go on. */
  open(): void;
}

export function fakeRecipe(): FakeRecipe {
  const root = tempDir('winux-recipe-');
  // The extraction runs as the containers' root (host uid 100000): it must reach the archive and the rootfs.
  fs.chmodSync(root, 0o755);
  const recipe = path.join(root, 'recipe');
  const gate = path.join(root, 'gate');
  fs.mkdirSync(recipe);
  const buildSh = (version: string) => `#!/bin/bash
# A fake recipe for tests: a small root filesystem with what an installed template must hold.
set -euo pipefail
rootfs="$1"
echo "::step debootstrap"
mkdir -p "$rootfs/usr/local/sbin" "$rootfs/etc"
echo "writing a tiny root filesystem (${version})"
echo "::step packages"
echo "waiting for the test's gate"
while [ ! -e ${JSON.stringify(gate)} ]; do sleep 0.05; done
echo "::step configure"
printf '#!/bin/sh\\nexit 0\\n' > "$rootfs/usr/local/sbin/winux-session-init"
chmod 755 "$rootfs/usr/local/sbin/winux-session-init"
echo "${version}" > "$rootfs/etc/winux-recipe-version"
echo "configured"
`;
  const write = (version: string) => fs.writeFileSync(path.join(recipe, 'build.sh'), buildSh(version), { mode: 0o755 });
  write('v1');
  fs.writeFileSync(gate, '');
  const config = loadConfig({
    WINUX_TEMPLATE_DIR: recipe,
    WINUX_LXC_PATH: path.join(root, 'lxc'),
    WINUX_CACHE_DIR: path.join(root, 'cache'),
    WINUX_DATA_DIR: path.join(root, 'data'),
  });
  fs.mkdirSync(config.lxc.path, { mode: 0o755 });
  return {
    config,
    control: templateControl(config, silentLogger),
    hash: () => recipeHash(config),
    change(version) {
      fs.rmSync(gate, { force: true });
      write(version);
    },
    open() {
      fs.writeFileSync(gate, '');
    },
  };
}
