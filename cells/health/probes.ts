// The real probes: ICMP echo with iputils' ping (no raw socket in the agent), and an HTTP GET
// to the cluster health port. Both measure the round trip in nanoseconds.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import type { Probes } from './prober.js';

/** One echo request with `ping -c1 -n -W <s>`; the latency is the one ping reports. */
export function icmpProbe(ip: string, timeoutMs: number, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const secs = Math.max(0.1, timeoutMs / 1000).toFixed(1);
    const child = spawn('ping', ['-c1', '-n', '-W', secs, ip], {
      stdio: ['ignore', 'pipe', 'pipe'],
      signal,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (e) => reject(new Error(`ping: ${e.message}`)));
    child.on('close', (code) => {
      const ms = /time[=<]([\d.]+) ms/.exec(out)?.[1];
      if (code === 0 && ms !== undefined) {
        resolve(Math.round(Number(ms) * 1e6));
        return;
      }
      const why = out
        .split('\n')
        .map((l) => l.trim())
        .find((l) => /received|unreachable|error|ping:/i.test(l));
      reject(new Error(`ping ${ip}: ${why ?? `exit code ${String(code)}`}`));
    });
  });
}

/** HTTP GET http://<ip>:<port>/hello; any 2xx is an answer. */
export function httpProbe(port: number) {
  return (ip: string, timeoutMs: number, signal: AbortSignal): Promise<number> =>
    new Promise((resolve, reject) => {
      const start = process.hrtime.bigint();
      const req = request(
        {
          host: ip,
          port,
          path: '/hello',
          method: 'GET',
          timeout: timeoutMs,
          signal,
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const ns = Number(process.hrtime.bigint() - start);
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) resolve(ns);
            else reject(new Error(`HTTP ${code}`));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      req.on('error', (e) => reject(new Error(`http ${ip}:${port}: ${e.message}`)));
      req.end();
    });
}

/** The real probes for the cluster health port. */
export function realProbes(port: number): Probes {
  return { icmp: icmpProbe, http: httpProbe(port) };
}
