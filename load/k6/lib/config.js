// @ts-check
/**
 * Shared configuration for the TaskRunner k6 suite: base URL and environment overrides.
 *
 * Every value can be overridden with `k6 run -e NAME=value ...` (or a real environment variable).
 */

/** Default target: the service on the loopback interface. */
export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

/**
 * Reads an environment variable, treating unset and empty the same.
 * @param {string} name
 * @param {string} fallback
 * @returns {string}
 */
export function envString(name, fallback) {
  const value = __ENV[name];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

/**
 * Reads a positive number (integer or decimal) from the environment.
 * @param {string} name
 * @param {number} fallback
 * @returns {number}
 */
export function envNumber(name, fallback) {
  const raw = envString(name, '');
  if (raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive number, got "${raw}"`);
  }
  return value;
}

/**
 * Reads a k6 duration string ("30s", "2m", "1m30s", "500ms") from the environment.
 * @param {string} name
 * @param {string} fallback
 * @returns {string}
 */
export function envDuration(name, fallback) {
  const value = envString(name, fallback);
  parseDurationSeconds(value); // validates, throws on garbage
  return value;
}

/**
 * Converts a k6 duration string to seconds. Supports h, m, s and ms units, combined ("1m30s").
 * @param {string} value
 * @returns {number}
 */
export function parseDurationSeconds(value) {
  const pattern = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  /** @type {RegExpExecArray | null} */
  let match;
  while ((match = pattern.exec(value)) !== null) {
    const amount = Number(match[1]);
    const unit = match[2];
    consumed += match[0].length;
    if (unit === 'h') total += amount * 3600;
    else if (unit === 'm') total += amount * 60;
    else if (unit === 's') total += amount;
    else total += amount / 1000;
  }
  if (consumed === 0 || consumed !== value.length || total <= 0) {
    throw new Error(`invalid duration "${value}" (expected e.g. 30s, 2m, 1m30s)`);
  }
  return total;
}

/**
 * Is the host part of a URL on the loopback interface (127.0.0.0/8, localhost, ::1)?
 * @param {string} url
 * @returns {boolean}
 */
export function isLoopbackUrl(url) {
  const match = /^https?:\/\/(\[[^\]]+\]|[^/:?#]+)(?::\d+)?(?:[/?#]|$)/i.exec(url);
  if (match === null) {
    return false;
  }
  const host = match[1].toLowerCase();
  return (
    host === 'localhost' ||
    host === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  );
}

/**
 * Base URL of the service under test, without a trailing slash.
 *
 * Only loopback addresses are accepted unless `ALLOW_NON_LOOPBACK=true` is set explicitly:
 * this suite is meant for a local service, never for someone else's host by accident.
 * @returns {string}
 */
function resolveBaseUrl() {
  const url = envString('BASE_URL', DEFAULT_BASE_URL).replace(/\/+$/, '');
  if (!/^https?:\/\//i.test(url)) {
    throw new Error(`BASE_URL must start with http:// or https://, got "${url}"`);
  }
  if (!isLoopbackUrl(url) && envString('ALLOW_NON_LOOPBACK', 'false') !== 'true') {
    throw new Error(
      `BASE_URL "${url}" is not a loopback address; refusing to generate load against it ` +
        '(set ALLOW_NON_LOOPBACK=true if you really mean it)',
    );
  }
  return url;
}

export const BASE_URL = resolveBaseUrl();

/**
 * Absolute URL for a path on the service.
 * @param {string} path must start with "/"
 * @returns {string}
 */
export function url(path) {
  return `${BASE_URL}${path}`;
}
