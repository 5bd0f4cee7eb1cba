import { describe, expect, it } from 'vitest';
import { dashboardGuardsFrom, hostName } from '../runtime/dashboard/routes.ts';

describe('dashboard guards from the environment', () => {
  it('http-guards - changes take the token when set; without one, open on loopback and off elsewhere', () => {
    expect(dashboardGuardsFrom({}, '127.0.0.1').changes).toBe('open');
    expect(dashboardGuardsFrom({}, '::1').changes).toBe('open');
    expect(dashboardGuardsFrom({}, '0.0.0.0').changes).toBe('off');
    expect(dashboardGuardsFrom({ JRN_HTTP_TOKEN: '' }, '0.0.0.0').changes).toBe('off');
    expect(dashboardGuardsFrom({ JRN_HTTP_TOKEN: 't0k' }, '0.0.0.0').changes).toEqual({ token: 't0k' });
    expect(dashboardGuardsFrom({ JRN_HTTP_TOKEN: 't0k' }, '127.0.0.1').changes).toEqual({ token: 't0k' });
  });

  it('http-guards - host names from JRN_HTTP_HOSTS and from Host headers', () => {
    expect(dashboardGuardsFrom({ JRN_HTTP_HOSTS: ' journeys.svc, ops.example.com ,' }, '0.0.0.0').hosts).toEqual(['journeys.svc', 'ops.example.com']);
    expect(dashboardGuardsFrom({}, '0.0.0.0').hosts).toEqual([]);
    expect(hostName('LOCALHOST:8080')).toBe('localhost');
    expect(hostName('[::1]:8080')).toBe('[::1]');
    expect(hostName('journeys.example')).toBe('journeys.example');
    expect(hostName(undefined)).toBe('');
    expect(hostName('a b')).toBe('');
  });
});
