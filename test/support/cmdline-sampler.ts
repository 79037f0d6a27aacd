// Proves a secret never shows in a process list: every process's command line
// on this machine, read from /proc every few ms on a thread of its own (so the
// test's own event loop being busy does not leave gaps), until told to stop.
import { Worker } from 'node:worker_threads';

export /** Reads every /proc/<pid>/cmdline every few ms on its own thread, until told to stop. */
function startCmdlineSampler(): { stop(): Promise<{ samples: number; cmdlines: string[] }> } {
  const worker = new Worker(
    `
    const { parentPort } = require('node:worker_threads');
    const fs = require('node:fs');
    const seen = new Set();
    let samples = 0, stopped = false;
    parentPort.on('message', () => { stopped = true; });
    (function sample() {
      if (stopped) return parentPort.postMessage({ samples, cmdlines: [...seen] });
      samples++;
      for (const pid of fs.readdirSync('/proc')) {
        if (!/^\\d+$/.test(pid)) continue;
        try { seen.add(fs.readFileSync('/proc/' + pid + '/cmdline', 'latin1').replace(/\\0/g, ' ')); } catch {}
      }
      setTimeout(sample, 5);
    })();
  `,
    { eval: true },
  );
  return {
    stop: () =>
      new Promise((resolve) => {
        worker.once('message', (m) => {
          void worker.terminate();
          resolve(m);
        });
        worker.postMessage('stop');
      }),
  };
}
