import { createConnection as connectTcp, createServer, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * The API server refuses loopback addresses in EndpointSlices (as it refuses them for pods), so
 * a server here, which listens on 127.0.0.1 only, is reached through a TCP relay on this
 * machine's own non-loopback address, the stand-in for a pod IP. Packets to a local address
 * never leave the machine: the kernel routes them through lo (`ip route get <it>` says
 * `local … dev lo`), so this is loopback traffic in all but the address.
 */
export interface PodNetworkRelay {
  host: string;
  port: number;
  /** Stops listening and cuts the connections it relays. */
  close(): void;
}

/** This machine's first non-loopback IPv4 address: where the relays listen, as a pod IP would be. */
export function podNetworkAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
  if (!address) throw new Error('this test needs a non-loopback IPv4 address: the API server refuses 127.0.0.1 in EndpointSlices');
  return address;
}

/** A TCP relay from the pod-network address to `port` on 127.0.0.1. */
export async function startPodNetworkRelay(port: number): Promise<PodNetworkRelay> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connectTcp(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const host = podNetworkAddress();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  return {
    host,
    port: (server.address() as { port: number }).port,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
