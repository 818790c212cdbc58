// A TCP port nobody listens on now, for a rendezvous on one machine (as torchrun's standalone mode
// picks one). Another process could take it before it is used: fine for launchers and tests.
import * as net from 'node:net';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
