import { describe, expect, it } from 'vitest';
import { connectOptions, SERVICE_ACCOUNT_TOKEN, versionText } from './client.js';
import type { K8sConfig } from './config.js';
import { apiStatus } from './types.js';

const base: K8sConfig = {
  k8sKubeconfigPath: '',
  k8sApiServer: '',
  enableK8s: true,
  skipCrdCreation: false,
  k8sWatchBackoffMax: 30_000,
};

describe('Kubernetes mode or embedded', () => {
  const none = (): boolean => false;
  const token = (p: string): boolean => p === SERVICE_ACCOUNT_TOKEN;

  it('is embedded without a kubeconfig, an API server or the in-cluster environment', () => {
    expect(connectOptions(base, {}, none)).toBeUndefined();
    // In a pod: the service host and the token file, both.
    expect(connectOptions(base, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, none)).toBeUndefined();
    expect(connectOptions(base, {}, token)).toBeUndefined();
    expect(connectOptions(base, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, token)).toEqual({
      kubeconfigPath: '',
      apiServer: '',
      inCluster: true,
    });
    expect(
      connectOptions({ ...base, enableK8s: false }, { KUBERNETES_SERVICE_HOST: 'h' }, token),
    ).toBeUndefined();
  });

  it('takes a kubeconfig (over the in-cluster account) and an API server URL, refusing a bad URL', () => {
    const kc = { ...base, k8sKubeconfigPath: '/etc/kube.conf' };
    expect(connectOptions(kc, { KUBERNETES_SERVICE_HOST: 'h' }, () => true)).toEqual({
      kubeconfigPath: '/etc/kube.conf',
      apiServer: '',
      inCluster: false,
    });
    expect(connectOptions({ ...base, k8sApiServer: 'http://127.0.0.1:8080' }, {}, none)).toEqual({
      kubeconfigPath: '',
      apiServer: 'http://127.0.0.1:8080',
      inCluster: false,
    });
    expect(() => connectOptions({ ...base, k8sApiServer: '127.0.0.1:6443' }, {}, none)).toThrow(
      /--k8s-api-server: '127.0.0.1:6443' is not an http\(s\) URL/,
    );
  });

  it("writes the version as Cilium's status does", () => {
    expect(
      versionText({ major: '1', minor: '31', gitVersion: 'v1.31.0', platform: 'linux/amd64' }),
    ).toBe('1.31 (v1.31.0) [linux/amd64]');
  });
});

describe('apiStatus', () => {
  it("reads client-node's ApiException code; anything else has none", async () => {
    const { ApiException } = await import('@kubernetes/client-node');
    expect(apiStatus(new ApiException(409, 'AlreadyExists', {}, {}))).toBe(409);
    expect(apiStatus(new Error('connect ECONNREFUSED'))).toBeUndefined();
    expect(apiStatus(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBeUndefined();
    expect(apiStatus(null)).toBeUndefined();
  });
});
