// cellium-health-responder: the HTTP server of the health endpoint, as Cilium's
// cilium-health-responder. The agent starts it inside the endpoint's network namespace (the
// child inherits the namespace it is spawned from) with the port as its argument; it answers
// every GET with 200, and exits when its stdin closes, i.e. when the agent is gone.
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? '4240');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('cellium-health-responder\n');
});
server.on('error', (e) => {
  process.stderr.write(`cellium-health-responder: ${e.message}\n`);
  process.exit(1);
});
server.listen(port, () => process.stdout.write('listening\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
