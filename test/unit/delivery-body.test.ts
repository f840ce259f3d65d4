// Flat delivery bodies keep leadrouter's own names, and stored notification URLs lose their credentials.
import { flattenDeliveryBody } from '../../activities/delivery';
import { redactUrlSecrets } from '../../activities/notify';

test('nested leaves keep their bare name unless it is reserved or taken, then their prefix', () => {
  const body = {
    click: 'lead-1',
    vertical: 'auto',
    geo: { country: 'US' },
    contact: { click: 'forged', leadId: 'x', country: 'FR', email: 'a@b.c', empty: null },
    data: { email: 'second', n: 3, ok: false, deep: { sourceId: 's' } },
  };
  expect(flattenDeliveryBody(body, new Set(['click', 'leadId', 'sourceId']))).toEqual({
    click: 'lead-1',
    vertical: 'auto',
    country: 'US',
    'contact.click': 'forged',
    'contact.leadId': 'x',
    'contact.country': 'FR',
    email: 'a@b.c',
    'data.email': 'second',
    n: '3',
    ok: 'false',
    'data.deep.sourceId': 's',
  });
});

test('names an object inherits are ordinary names', () => {
  expect(flattenDeliveryBody({ data: { constructor: 'c', toString: 't' } }, new Set())).toEqual({
    constructor: 'c',
    toString: 't',
  });
});

test('credentials in a notification URL are redacted; per-lead values stay', () => {
  expect(
    redactUrlSecrets('https://u:p4ss@t.example/pb?api_key=k1&clickid=c1&token=t&sig=s&status=accepted&x=1'),
  ).toBe(
    'https://u:redacted@t.example/pb?api_key=redacted&clickid=c1&token=redacted&sig=redacted&status=accepted&x=1',
  );
  expect(redactUrlSecrets('https://t.example/pb?clickid=c1')).toBe('https://t.example/pb?clickid=c1');
  expect(redactUrlSecrets('not a url')).toBe('[unparseable url]');
});
