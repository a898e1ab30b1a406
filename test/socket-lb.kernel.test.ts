// bpf_sock on the real kernel: socket-level load balancing for the processes of a cgroup. Each
// test loads bpf_sock.o over LB maps of its own, attaches its eight programs to a cgroup of its
// own, and runs backend servers and clients in a network namespace of its own
// (support/socket-lb.ts); clients run inside the cgroup unless a test says otherwise. Root only.
import { release } from 'node:os';
import { expect, it } from 'vitest';
import { cgroupV2Mount } from '../core/bpf/index.js';
import { kernelSuite } from '../core/testing/kernel.js';
import {
  SOCK_OBJECT,
  sockLbWorld,
  startServers,
  tcpClient,
  TEST_MAGLEV_SIZE,
  udpClient,
  writeService,
  type TcpResult,
} from './support/socket-lb.js';

// bpf_set_retval (Linux 5.18) lets the programs fail a call with ECONNREFUSED; before, EPERM.
const [major = 0, minor = 0] = release()
  .split('.')
  .map((n) => parseInt(n, 10));
const REFUSED = major > 5 || (major === 5 && minor >= 18) ? 'ECONNREFUSED' : 'EPERM';

const names = (rs: readonly TcpResult[]) => new Set(rs.map((r) => r.data));
const errors = (rs: readonly { error?: string }[]) => rs.flatMap((r) => (r.error ? [r.error] : []));

const B2 = { proto: 'tcp', host: '127.0.0.2', port: 8080, name: 'b2' } as const;
const B3 = { proto: 'tcp', host: '127.0.0.3', port: 8080, name: 'b3' } as const;
const B4 = { proto: 'tcp', host: '127.0.0.4', port: 8080, name: 'b4' } as const;

kernelSuite(
  'socket LB (bpf_sock) on the kernel',
  { objects: [SOCK_OBJECT], commands: ['ip', 'nsenter', 'sh'], cgroup2: true },
  () => {
    const root = cgroupV2Mount() ?? '';

    it('TCP to a ClusterIP reaches every active backend; getpeername() shows the ClusterIP', async () => {
      const w = sockLbWorld(root);
      // Port 0 in a backend keeps the service's port: b4 listens on 80.
      await startServers(w.ns, [B2, B3, { ...B4, port: 80 }]);
      writeService(w.maps, {
        vip: '10.96.0.10',
        port: 80,
        proto: 'tcp',
        revNat: 1,
        active: [
          { id: 1, address: '127.0.0.2', port: 8080 },
          { id: 2, address: '127.0.0.3', port: 8080 },
          { id: 3, address: '127.0.0.4', port: 0 },
        ],
      });
      const rs = await tcpClient(w, { host: '10.96.0.10', port: 80, times: 45 });
      expect(errors(rs)).toEqual([]);
      expect(names(rs)).toEqual(new Set(['b2', 'b3', 'b4']));
      for (const r of rs) expect(r.peer).toEqual({ address: '10.96.0.10', port: 80 });
      // What getpeername went by: (socket cookie, backend) -> frontend, one per connection.
      const rev = [...w.maps.v4.sockRevNat.entries()];
      expect(rev).toHaveLength(45);
      expect(new Set(rev.map(([k]) => k.cookie)).size).toBe(45);
      for (const [k, v] of rev) {
        expect(['127.0.0.2:8080', '127.0.0.3:8080', '127.0.0.4:80']).toContain(
          `${k.address}:${k.port}`,
        );
        expect(v).toEqual({ address: '10.96.0.10', port: 80, rev_nat_index: 1 });
      }
    });

    it('UDP sendto()/recvfrom() to a ClusterIP: replies come from the ClusterIP, a socket keeps its backend', async () => {
      const w = sockLbWorld(root);
      await startServers(w.ns, [
        { proto: 'udp', host: '127.0.0.2', port: 5353, name: 'u2' },
        { proto: 'udp', host: '127.0.0.3', port: 5353, name: 'u3' },
      ]);
      writeService(w.maps, {
        vip: '10.96.0.11',
        port: 53,
        proto: 'udp',
        revNat: 2,
        active: [
          { id: 1, address: '127.0.0.2', port: 5353 },
          { id: 2, address: '127.0.0.3', port: 5353 },
        ],
      });
      const rs = await udpClient(w, { host: '10.96.0.11', port: 53, times: 24, sends: 3 });
      expect(errors(rs)).toEqual([]);
      for (const r of rs) {
        expect(r.replies.map((x) => x.from)).toEqual(
          Array(3).fill({ address: '10.96.0.11', port: 53 }),
        );
        // One socket, one backend: its slot comes from its cookie, not from each datagram.
        expect(new Set(r.replies.map((x) => x.data)).size).toBe(1);
      }
      expect(new Set(rs.map((r) => r.replies[0]?.data))).toEqual(new Set(['u2', 'u3']));

      // A connected UDP socket: getpeername() and recv() both show the ClusterIP.
      const connected = await udpClient(w, {
        host: '10.96.0.11',
        port: 53,
        times: 4,
        sends: 2,
        connect: true,
      });
      expect(errors(connected)).toEqual([]);
      for (const r of connected) {
        expect(r.peer).toEqual({ address: '10.96.0.11', port: 53 });
        expect(r.replies.map((x) => x.from.address)).toEqual(['10.96.0.11', '10.96.0.11']);
      }
    });

    it('a terminating backend takes no new connection: not from the slots, nor from a Maglev table that still names it', async () => {
      const w = sockLbWorld(root);
      await startServers(w.ns, [B2, B3, B4]);
      const b = (id: number, host: string) => ({ id, address: host, port: 8080 });
      writeService(w.maps, {
        vip: '10.96.0.12',
        port: 80,
        proto: 'tcp',
        revNat: 3,
        active: [b(1, '127.0.0.2')],
        terminating: [b(2, '127.0.0.3')],
      });
      const random = await tcpClient(w, { host: '10.96.0.12', port: 80, times: 20 });
      expect(errors(random)).toEqual([]);
      expect(names(random)).toEqual(new Set(['b2']));

      // Maglev: the table picks by the socket's cookie; backend 3 has started terminating before
      // the table was rebuilt, so the program falls back to the active slots.
      const table = Array.from({ length: TEST_MAGLEV_SIZE }, (_, i) => [1, 2, 3][i % 3] as number);
      writeService(w.maps, {
        vip: '10.96.0.13',
        port: 80,
        proto: 'tcp',
        revNat: 4,
        active: [b(1, '127.0.0.2'), b(2, '127.0.0.3')],
        terminating: [b(3, '127.0.0.4')],
        maglev: table,
      });
      const maglev = await tcpClient(w, { host: '10.96.0.13', port: 80, times: 40 });
      expect(errors(maglev)).toEqual([]);
      expect(names(maglev)).toEqual(new Set(['b2', 'b3']));
      for (const r of maglev) expect(r.peer).toEqual({ address: '10.96.0.13', port: 80 });
    });

    it('session affinity keeps a netns on one backend until that backend terminates', async () => {
      const w = sockLbWorld(root);
      await startServers(w.ns, [B2, B3]);
      const backends = [
        { id: 1, address: '127.0.0.2', port: 8080, name: 'b2' },
        { id: 2, address: '127.0.0.3', port: 8080, name: 'b3' },
      ];
      const svc = { vip: '10.96.0.14', port: 80, proto: 'tcp', revNat: 5, affinityTimeout: 300 };
      writeService(w.maps, { ...svc, proto: 'tcp', active: backends });
      const first = await tcpClient(w, { host: '10.96.0.14', port: 80, times: 12 });
      expect(errors(first)).toEqual([]);
      expect(names(first).size).toBe(1);
      const chosen = backends.find((x) => x.name === first[0]?.data)!;
      const other = backends.find((x) => x !== chosen)!;
      // Keyed by the client's netns cookie (netns_cookie = 1), not by an address.
      const aff = [...w.maps.v4.affinity.entries()];
      expect(aff).toHaveLength(1);
      expect(aff[0]?.[0]).toMatchObject({ rev_nat_id: 5, netns_cookie: 1 });
      expect(aff[0]?.[1].backend_id).toBe(chosen.id);

      // Terminating: no new socket goes there, even while the match map still names it (the
      // agent takes it out of cellium_lb_affinity_match a moment later).
      writeService(w.maps, { ...svc, proto: 'tcp', active: [other], terminating: [chosen] });
      w.maps.affinityMatch.update({ backend_id: chosen.id, rev_nat_id: 5 }, {});
      const after = await tcpClient(w, { host: '10.96.0.14', port: 80, times: 12 });
      expect(errors(after)).toEqual([]);
      expect(names(after)).toEqual(new Set([other.name]));
      expect([...w.maps.v4.affinity.entries()].map(([, v]) => v.backend_id)).toEqual([other.id]);
    });

    it('IPv6 services, and IPv4 services through v4-mapped addresses on AF_INET6 sockets', async () => {
      const w = sockLbWorld(root);
      await startServers(w.ns, [
        { proto: 'tcp', host: 'fd00:b::2', port: 8080, name: 'v6a' },
        { proto: 'tcp', host: 'fd00:b::3', port: 8080, name: 'v6b' },
        { proto: 'udp', host: 'fd00:b::2', port: 5353, name: 'u6' },
        B2,
        { proto: 'udp', host: '127.0.0.2', port: 5353, name: 'u2' },
      ]);
      writeService(w.maps, {
        vip: 'fd00:96::10',
        port: 80,
        proto: 'tcp',
        revNat: 6,
        active: [
          { id: 1, address: 'fd00:b::2', port: 8080 },
          { id: 2, address: 'fd00:b::3', port: 8080 },
        ],
      });
      writeService(w.maps, {
        vip: 'fd00:96::11',
        port: 53,
        proto: 'udp',
        revNat: 7,
        active: [{ id: 3, address: 'fd00:b::2', port: 5353 }],
      });
      const tcp6 = await tcpClient(w, { host: 'fd00:96::10', port: 80, times: 30 });
      expect(errors(tcp6)).toEqual([]);
      expect(names(tcp6)).toEqual(new Set(['v6a', 'v6b']));
      for (const r of tcp6) expect(r.peer).toEqual({ address: 'fd00:96::10', port: 80 });
      for (const connect of [false, true]) {
        const udp6 = await udpClient(w, { host: 'fd00:96::11', port: 53, times: 3, connect });
        expect(errors(udp6)).toEqual([]);
        for (const r of udp6)
          expect(r.replies).toEqual([{ from: { address: 'fd00:96::11', port: 53 }, data: 'u6' }]);
      }

      // ::ffff:10.96.0.15 on AF_INET6 sockets: the IPv4 service, answered as ::ffff:10.96.0.15.
      writeService(w.maps, {
        vip: '10.96.0.15',
        port: 80,
        proto: 'tcp',
        revNat: 8,
        active: [{ id: 4, address: '127.0.0.2', port: 8080 }],
      });
      writeService(w.maps, {
        vip: '10.96.0.15',
        port: 53,
        proto: 'udp',
        revNat: 9,
        active: [{ id: 5, address: '127.0.0.2', port: 5353 }],
      });
      const mapped = await tcpClient(w, { host: '::ffff:10.96.0.15', port: 80, times: 3 });
      expect(mapped).toEqual(
        Array(3).fill({ peer: { address: '::ffff:10.96.0.15', port: 80 }, data: 'b2' }),
      );
      const mappedUdp = await udpClient(w, { host: '::ffff:10.96.0.15', port: 53, times: 2 });
      for (const r of mappedUdp)
        expect(r.replies).toEqual([
          { from: { address: '::ffff:10.96.0.15', port: 53 }, data: 'u2' },
        ]);
    });

    it('a service without an active backend fails connect() and sendto()', async () => {
      const w = sockLbWorld(root);
      await startServers(w.ns, [B2]);
      writeService(w.maps, { vip: '10.96.0.16', port: 80, proto: 'tcp', revNat: 10, active: [] });
      writeService(w.maps, { vip: '10.96.0.16', port: 53, proto: 'udp', revNat: 11, active: [] });
      writeService(w.maps, {
        vip: 'fd00:96::16',
        port: 80,
        proto: 'tcp',
        revNat: 12,
        active: [],
        terminating: [{ id: 1, address: 'fd00:b::2', port: 8080 }],
      });
      const jobs = [
        tcpClient(w, { host: '10.96.0.16', port: 80 }),
        udpClient(w, { host: '10.96.0.16', port: 53 }),
        udpClient(w, { host: '10.96.0.16', port: 53, connect: true }),
        tcpClient(w, { host: 'fd00:96::16', port: 80 }),
        tcpClient(w, { host: '::ffff:10.96.0.16', port: 80 }),
      ];
      for (const rs of await Promise.all(jobs)) expect(errors(rs)).toEqual([REFUSED]);
    });

    it('a reverse entry whose service is gone is dropped, not used', async () => {
      const w = sockLbWorld(root);
      await startServers(w.ns, [{ proto: 'udp', host: '127.0.0.2', port: 5353, name: 'u2' }]);
      const svc = {
        vip: '10.96.0.18',
        port: 53,
        proto: 'udp',
        revNat: 15,
        active: [{ id: 1, address: '127.0.0.2', port: 5353 }],
      } as const;
      writeService(w.maps, svc);
      // A connected socket: its datagrams go to the backend whatever the maps say later.
      const [r] = await udpClient(
        w,
        { host: svc.vip, port: 53, connect: true, sends: 2, pauseAfter: 1 },
        true,
        () => {
          expect(w.maps.v4.sockRevNat.count()).toBe(1);
          w.maps.v4.services.delete({
            address: svc.vip,
            dport: 53,
            backend_slot: 0,
            proto: 17,
            scope: 0,
          });
        },
      );
      expect(r?.error).toBeUndefined();
      expect(r?.replies.map((x) => x.from)).toEqual([
        { address: '10.96.0.18', port: 53 },
        { address: '127.0.0.2', port: 5353 },
      ]);
      expect(w.maps.v4.sockRevNat.count()).toBe(0);
    });

    it('leaves non-service destinations, and processes outside the cgroup, alone', async () => {
      const w = sockLbWorld(root);
      await startServers(w.ns, [B2, { proto: 'udp', host: '127.0.0.2', port: 5353, name: 'u2' }]);
      writeService(w.maps, {
        vip: '10.96.0.17',
        port: 80,
        proto: 'tcp',
        revNat: 13,
        active: [{ id: 1, address: '127.0.0.2', port: 8080 }],
      });
      writeService(w.maps, {
        vip: '10.96.0.17',
        port: 53,
        proto: 'udp',
        revNat: 14,
        active: [{ id: 2, address: '127.0.0.2', port: 5353 }],
      });
      // Inside the cgroup: a backend asked for directly is itself, and another port of the
      // frontend's address is no service (the connect goes out of cv0, where nobody answers).
      const direct = await tcpClient(w, { host: '127.0.0.2', port: 8080 });
      expect(direct).toEqual([{ peer: { address: '127.0.0.2', port: 8080 }, data: 'b2' }]);
      const direct6 = await udpClient(w, { host: '127.0.0.2', port: 5353 });
      expect(direct6[0]?.replies).toEqual([
        { from: { address: '127.0.0.2', port: 5353 }, data: 'u2' },
      ]);
      const otherPort = await tcpClient(w, { host: '10.96.0.17', port: 81, timeoutMs: 300 });
      expect(otherPort[0]?.peer).toBeUndefined();
      expect(errors(otherPort)).toHaveLength(1);
      expect(w.maps.v4.sockRevNat.count()).toBe(0);

      // Outside the cgroup (same netns): nothing is translated, so the frontend is unreachable.
      const outside = await tcpClient(w, { host: '10.96.0.17', port: 80, timeoutMs: 300 }, false);
      expect(outside[0]?.peer).toBeUndefined();
      expect(errors(outside)).toHaveLength(1);
      const outsideUdp = await udpClient(
        w,
        { host: '10.96.0.17', port: 53, timeoutMs: 300 },
        false,
      );
      expect(outsideUdp[0]?.replies).toEqual([]);
      expect(w.maps.v4.sockRevNat.count()).toBe(0);

      // The same frontend from inside the cgroup.
      const inside = await tcpClient(w, { host: '10.96.0.17', port: 80 });
      expect(inside).toEqual([{ peer: { address: '10.96.0.17', port: 80 }, data: 'b2' }]);
    });
  },
);
