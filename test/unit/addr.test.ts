// Addresses survive text -> bytes -> text, in the forms ntop() prints.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesToIp, ipToBytes } from '../../common/addr';

test('IPv4 and IPv6 addresses round-trip through bytes', () => {
  for (const ip of ['198.18.0.1', '0.0.0.0', '255.255.255.255', '2001:db8::1', '::1', '::', 'fe80::1:2:3:4', '2001:db8:0:1:1:1:1:1', '::ffff:198.18.0.5', '2001:db8::']) {
    assert.equal(bytesToIp(ipToBytes(ip)), ip, ip);
  }
  assert.equal(bytesToIp(ipToBytes('2001:0db8:0000:0000:0000:0000:0000:0001')), '2001:db8::1');
  assert.deepEqual([...ipToBytes('198.18.1.2')], [198, 18, 1, 2]);
});

test('bad addresses are refused', () => {
  assert.throws(() => ipToBytes('198.18.0'), /not an IP address/);
  assert.throws(() => bytesToIp(new Uint8Array(5)), /4 or 16 bytes/);
});
