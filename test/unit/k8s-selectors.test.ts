// The test API server parses and applies label and field selectors as the real one does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileFieldSelector, matchLabels, parseFieldSelector, parseLabelSelector, SelectorError } from '../../test/kube-apiserver/selectors';
import { pod } from '../kube-apiserver/fixtures';

const labels = { app: 'web', tier: 'front', 'app.kubernetes.io/version': '3' };
const m = (sel: string, l: Record<string, string> | undefined = labels) => matchLabels(parseLabelSelector(sel), l);

test('label selectors: equality, inequality, sets, existence', () => {
  assert.ok(m('app=web'));
  assert.ok(m('app==web'));
  assert.ok(!m('app!=web'));
  assert.ok(m('app!=db'));
  assert.ok(m('missing!=x'), '!= matches objects without the key');
  assert.ok(m('app in (db, web)'));
  assert.ok(!m('app in (db,cache)'));
  assert.ok(m('app notin (db,cache)'));
  assert.ok(m('missing notin (x)'));
  assert.ok(m('tier'));
  assert.ok(!m('!tier'));
  assert.ok(m('!missing'));
  assert.ok(m('app=web,tier=front'), 'comma is AND');
  assert.ok(!m('app=web,tier=back'));
  assert.ok(m('app.kubernetes.io/version>2'));
  assert.ok(!m('app.kubernetes.io/version<2'));
  assert.ok(m('app in (web),!missing,tier'));
  assert.ok(!matchLabels(parseLabelSelector('app'), undefined), 'no labels at all');
  assert.ok(matchLabels(parseLabelSelector(''), undefined), 'an empty selector matches everything');
});

test('bad label selectors are refused', () => {
  for (const bad of ['app in ()', 'app in (a', 'a b c', 'app=we b', 'app,', '-bad=x']) {
    assert.throws(() => parseLabelSelector(bad), SelectorError, bad);
  }
});

test('field selectors on pods: spec.nodeName, metadata.*, status.phase with =, ==, != and AND', () => {
  const p = pod({ name: 'p1', namespace: 'shop', node: 'node-1', ip: '10.0.0.1' });
  const f = (sel: string) => compileFieldSelector('pods', parseFieldSelector(sel))(p);
  assert.ok(f('spec.nodeName=node-1'));
  assert.ok(f('spec.nodeName==node-1'));
  assert.ok(!f('spec.nodeName=node-2'));
  assert.ok(f('spec.nodeName!=node-2'));
  assert.ok(f('metadata.name=p1,metadata.namespace=shop'));
  assert.ok(!f('metadata.name=p1,metadata.namespace=other'));
  assert.ok(f('status.phase=Running'));
  assert.ok(f('status.phase!=Succeeded,status.phase!=Failed'));
  assert.ok(f('status.podIP=10.0.0.1'));
  const pending = pod({ name: 'p2' });
  assert.ok(compileFieldSelector('pods', parseFieldSelector('spec.nodeName='))(pending), 'empty value selects unscheduled pods');
  assert.ok(compileFieldSelector('pods', parseFieldSelector('metadata.name=a\\,b'))({ metadata: { name: 'a,b' } }), 'escaped comma');
});

test('unsupported fields are refused with the real message', () => {
  assert.throws(() => compileFieldSelector('pods', parseFieldSelector('spec.foo=x')), /field label not supported: spec.foo/);
  assert.throws(() => compileFieldSelector('services', parseFieldSelector('spec.nodeName=x')), /field label not supported: spec.nodeName/);
  assert.throws(() => parseFieldSelector('nonsense'), SelectorError);
  assert.ok(compileFieldSelector('services', parseFieldSelector('metadata.name=x'))({ metadata: { name: 'x' } }));
});
