import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { targetSpecSchema, type TargetSpec } from '../../domain/resources';
import { parseAppBinding, readyEndpoints, selectServicePort, targetAtEndpoints } from '../../domain/target-endpoints';

const twoPorts: V1Service = {
  spec: {
    ports: [
      { name: 'mysql', port: 3306, targetPort: 3306, protocol: 'TCP' },
      { name: 'metrics', port: 9104, protocol: 'TCP' },
    ],
  },
};

function slice(name: string, ports: V1EndpointSlice['ports'], endpoints: Array<[string[], boolean | undefined]>): V1EndpointSlice {
  return {
    addressType: 'IPv4',
    metadata: { name },
    ports,
    endpoints: endpoints.map(([addresses, ready]) => ({ addresses, ...(ready === undefined ? {} : { conditions: { ready } }) })),
  };
}

describe('selectServicePort', () => {
  it('finds the port by Service port number or by name', () => {
    expect(selectServicePort(twoPorts, 3306, 'Service db/galera')).toMatchObject({ name: 'mysql' });
    expect(selectServicePort(twoPorts, 'metrics', 'Service db/galera')).toMatchObject({ port: 9104 });
  });

  it('takes the only port when none is named, and asks for one when there are several', () => {
    expect(selectServicePort({ spec: { ports: [{ port: 3306 }] } }, undefined, 'Service db/one')).toEqual({ port: 3306 });
    expect(selectServicePort(twoPorts, undefined, 'Service db/galera')).toEqual({
      problem: "Service db/galera has 2 ports (mysql 3306/TCP, metrics 9104/TCP): set service.port to the database's port number or name",
    });
  });

  it('names the ports there are when the wanted one is missing', () => {
    expect(selectServicePort(twoPorts, 3307, 'Service db/galera')).toEqual({
      problem: 'Service db/galera has no port 3307 (its ports: mysql 3306/TCP, metrics 9104/TCP)',
    });
    expect(selectServicePort(twoPorts, 'sql', 'Service db/galera')).toEqual({
      problem: 'Service db/galera has no port named "sql" (its ports: mysql 3306/TCP, metrics 9104/TCP)',
    });
  });

  it('refuses an ExternalName Service, pointing at its host', () => {
    const external: V1Service = { spec: { type: 'ExternalName', externalName: 'db.example.com' } };
    expect(selectServicePort(external, undefined, 'Service db/ext')).toEqual({
      problem: 'Service db/ext is of type ExternalName (db.example.com), which has no endpoints: use host: db.example.com instead',
    });
  });
});

describe('readyEndpoints', () => {
  const mysql = twoPorts.spec!.ports![0]!;

  it('takes ready endpoints with the port of the same name, in slice-name order, each once', () => {
    const slices = [
      slice('galera-b', [{ name: 'mysql', port: 13306, protocol: 'TCP' }], [[['10.0.0.3'], true]]),
      slice(
        'galera-a',
        [
          { name: 'metrics', port: 9104 },
          { name: 'mysql', port: 3306 },
        ],
        [
          [['10.0.0.1', '10.0.0.9'], true],
          [['10.0.0.2'], undefined],
          [['10.0.0.1'], true],
        ],
      ),
    ];
    expect(readyEndpoints(slices, mysql)).toEqual([
      { host: '10.0.0.1', port: 3306 },
      { host: '10.0.0.2', port: 3306 },
      { host: '10.0.0.3', port: 13306 },
    ]);
  });

  it('leaves out endpoints that are not ready and slices without the port', () => {
    const slices = [
      slice('a', [{ name: 'mysql', port: 3306 }], [[['10.0.0.1'], false]]),
      slice('b', [{ name: 'metrics', port: 9104 }], [[['10.0.0.2'], true]]),
      slice('c', [{ name: 'mysql', port: 3306, protocol: 'UDP' }], [[['10.0.0.3'], true]]),
    ];
    expect(readyEndpoints(slices, mysql)).toEqual([]);
  });

  it('matches an unnamed Service port to an unnamed slice port', () => {
    expect(readyEndpoints([slice('x', [{ port: 3307 }], [[['127.0.0.1'], true]])], { port: 3306 })).toEqual([
      { host: '127.0.0.1', port: 3307 },
    ]);
  });
});

describe('parseAppBinding', () => {
  const binding = (clientConfig: object, secret?: object) => ({
    apiVersion: 'appcatalog.appscode.com/v1alpha1',
    kind: 'AppBinding',
    metadata: { name: 'shop', namespace: 'db' },
    spec: { type: 'kubedb.com/mariadb', clientConfig, ...(secret ? { secret } : {}) },
  });

  it('prefers the Service over the URL, as KubeDB writes both', () => {
    expect(
      parseAppBinding(
        binding({ service: { name: 'shop', port: 3306, scheme: 'mysql' }, url: 'tcp(shop.db.svc:3306)/' }, { name: 'shop-auth' }),
        'AppBinding db/shop',
      ),
    ).toEqual({
      address: { service: { name: 'shop', port: 3306 } },
      secretName: 'shop-auth',
    });
  });

  it.each([
    ['mysql://db.example.com:3307/shop', { host: 'db.example.com', port: 3307 }],
    ['tcp://10.0.0.5:3306', { host: '10.0.0.5', port: 3306 }],
    ['tcp(shop.db.svc:13306)/', { host: 'shop.db.svc', port: 13306 }],
    ['mysql://[fd00::5]:3306', { host: 'fd00::5', port: 3306 }],
    ['mysql://db.example.com', { host: 'db.example.com', port: 3306 }],
  ])('reads host and port from the URL %s', (url, address) => {
    expect(parseAppBinding(binding({ url }), 'AppBinding db/shop')).toEqual({ address, secretName: undefined });
  });

  it('keeps the CA bundle of clientConfig, and refuses one that is not base64 of PEM certificates', () => {
    const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');
    expect(parseAppBinding(binding({ url: 'tcp://10.0.0.5:3306', caBundle }), 'AppBinding db/shop')).toEqual({
      address: { host: '10.0.0.5', port: 3306 },
      secretName: undefined,
      caBundle,
    });
    expect(parseAppBinding(binding({ url: 'tcp://10.0.0.5:3306', caBundle: 'bm90IGEgY2VydA==' }), 'AppBinding db/shop')).toEqual({
      problem: 'AppBinding db/shop: spec.clientConfig.caBundle is not base64 of PEM certificates',
    });
  });

  it('names what is wrong', () => {
    expect(parseAppBinding(binding({ url: 'https://db.example.com' }), 'AppBinding db/shop')).toEqual({
      problem:
        'AppBinding db/shop: spec.clientConfig.url "https://db.example.com" is not mysql://host:port, tcp://host:port or tcp(host:port)/',
    });
    expect(parseAppBinding(binding({}), 'AppBinding db/shop')).toEqual({
      problem: 'AppBinding db/shop: spec.clientConfig has neither service nor url',
    });
    expect(parseAppBinding({ spec: {} }, 'AppBinding db/shop')).toMatchObject({
      problem: expect.stringMatching(/^AppBinding db\/shop: spec\.clientConfig: /),
    });
  });
});

describe('targetAtEndpoints', () => {
  const parse = (spec: object): TargetSpec => targetSpecSchema.parse(spec);

  it('connects a plain target to the first endpoint, with its own user and password', () => {
    const spec = parse({ engine: 'mariadb', service: { name: 'shop' }, user: 'backup', password: { env: 'PW' } });
    expect(
      targetAtEndpoints(spec, [
        { host: '10.0.0.1', port: 3306 },
        { host: '10.0.0.2', port: 3306 },
      ]),
    ).toEqual({
      engine: 'mariadb',
      host: '10.0.0.1',
      port: 3306,
      user: 'backup',
      password: { env: 'PW' },
    });
  });

  it('takes the AppBinding credentials only where the Target sets none', () => {
    const bound = { user: 'app-user', password: { secretKeyRef: { name: 'shop-auth', key: 'password', namespace: 'db' } } };
    const spec = parse({ engine: 'mariadb', appBinding: { name: 'shop' } });
    expect(spec.user).toBeUndefined();
    expect(targetAtEndpoints(spec, [{ host: 'h', port: 1 }], bound)).toMatchObject({ user: 'app-user', password: bound.password });
    const explicit = parse({ engine: 'mariadb', appBinding: { name: 'shop' }, user: 'root', password: { file: '/run/pw' } });
    expect(targetAtEndpoints(explicit, [{ host: 'h', port: 1 }], bound)).toMatchObject({ user: 'root', password: { file: '/run/pw' } });
    expect(targetAtEndpoints(spec, [{ host: 'h', port: 1 }])).toMatchObject({ user: 'root' });
  });

  it('makes every endpoint of a Galera target a donor candidate, after the members it lists', () => {
    const spec = parse({
      engine: 'mariadb',
      service: { name: 'galera' },
      galera: { members: [{ host: '10.0.0.2', datadir: '/var/lib/mysql' }] },
    });
    const concrete = targetAtEndpoints(spec, [
      { host: '10.0.0.1', port: 3306 },
      { host: '10.0.0.2', port: 3306 },
      { host: '10.0.0.3', port: 3306 },
    ]);
    expect(concrete.host).toBe('10.0.0.1');
    expect(concrete.galera).toEqual({
      ignoreGlobalPriv: true,
      members: [
        { host: '10.0.0.2', port: 3306, datadir: '/var/lib/mysql' },
        { host: '10.0.0.1', port: 3306 },
        { host: '10.0.0.3', port: 3306 },
      ],
    });
    // Percona XtraDB Cluster is Galera without saying so.
    expect(
      targetAtEndpoints(parse({ engine: 'percona-xtradb', service: { name: 'pxc' } }), [
        { host: 'a', port: 1 },
        { host: 'b', port: 1 },
      ]).galera?.members,
    ).toHaveLength(2);
  });
});
