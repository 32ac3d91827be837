import { describe, expect, it } from 'vitest';
import { serverTakesLoadData } from '../../domain/load-data-rows';
import { serverIdentity } from '../../domain/server-flavor';

describe('serverTakesLoadData', () => {
  const server = (version: string, localInfile = true, galera = false) => ({ identity: serverIdentity(version), localInfile, galera });

  it('is MariaDB with local_infile on, a release with the bulk load fixed, and no Galera node', () => {
    expect(serverTakesLoadData(server('10.11.19-MariaDB-0+deb12u1'))).toBe(true);
    expect(serverTakesLoadData(server('11.8.3-MariaDB-1'))).toBe(true);
    expect(serverTakesLoadData(server('11.4.5-MariaDB'))).toBe(true);
    expect(serverTakesLoadData(server('10.11.10-MariaDB'))).toBe(false);
    expect(serverTakesLoadData(server('11.4.4-MariaDB'))).toBe(false);
    expect(serverTakesLoadData(server('11.6.2-MariaDB'))).toBe(false);
    expect(serverTakesLoadData(server('10.6.20-MariaDB'))).toBe(false);
    expect(serverTakesLoadData(server('11.8.3-MariaDB-1', false))).toBe(false);
    expect(serverTakesLoadData(server('11.8.3-MariaDB-1', true, true))).toBe(false);
    expect(serverTakesLoadData(server('9.7.0'))).toBe(false);
  });
});
