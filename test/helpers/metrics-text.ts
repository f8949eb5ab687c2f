// Prometheus text from a KP's /metrics with the `instance` label (on every series) taken out, so
// a test can match a series by the labels it is about.
export const withoutInstance = (text: string): string =>
  text.replace(/instance="[^"]*",?/g, '').replace(/\{\}/g, '');
