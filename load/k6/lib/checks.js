// @ts-check
/**
 * Request and check helpers shared by the k6 scripts.
 */

import http from 'k6/http';
import { check } from 'k6';
import { url } from './config.js';
import { REQUEST_TIMEOUT } from './options.js';

/**
 * @typedef {import('k6/http').Response} Response
 * @typedef {import('k6/http').ResponseType} ResponseType
 * @typedef {import('k6').Checkers<Response>} ResponseCheckers
 */

/**
 * GET a path on the service, tagged with `endpoint` so thresholds can be set per endpoint.
 * @param {string} path
 * @param {string} endpoint value of the `endpoint` tag
 * @param {{ body?: boolean, expectedStatuses?: number[] }} [opts]
 *   `body: false` discards the body (cheaper when there is nothing to inspect);
 *   `expectedStatuses` overrides which statuses count as success for `http_req_failed`
 *   (default: k6's 200-399).
 * @returns {Response}
 */
export function get(path, endpoint, opts = {}) {
  /** @type {ResponseType} */
  const responseType = opts.body === false ? 'none' : 'text';
  /** @type {import('k6/http').Params} */
  const params = {
    tags: { endpoint },
    timeout: REQUEST_TIMEOUT,
    responseType,
  };
  if (opts.expectedStatuses !== undefined) {
    params.responseCallback = http.expectedStatuses(...opts.expectedStatuses);
  }
  return http.get(url(path), params);
}

/**
 * Checks a response and tags the check results with the endpoint.
 * @param {Response} res
 * @param {string} endpoint
 * @param {ResponseCheckers} checkers
 * @returns {boolean}
 */
export function checkResponse(res, endpoint, checkers) {
  return check(res, checkers, { endpoint });
}

/**
 * Value of the Content-Type header (k6 canonicalises header names), lower-cased, or "".
 * @param {Response} res
 * @returns {string}
 */
export function contentType(res) {
  const value = res.headers['Content-Type'];
  return typeof value === 'string' ? value.toLowerCase() : '';
}

/**
 * Checker: status equals `expected`.
 * @param {number} expected
 * @returns {(res: Response) => boolean}
 */
export function statusIs(expected) {
  return (res) => res.status === expected;
}

/**
 * Checker: the media type (before any `;` parameters) is one of `mediaTypes`.
 * @param {...string} mediaTypes e.g. "application/json"
 * @returns {(res: Response) => boolean}
 */
export function contentTypeIs(...mediaTypes) {
  return (res) => mediaTypes.includes(contentType(res).split(';')[0].trim());
}

/**
 * Checker: the body parses as a JSON object (not an array, not a scalar).
 * @param {Response} res
 * @returns {boolean}
 */
export function bodyIsJsonObject(res) {
  if (typeof res.body !== 'string' || res.body.length === 0) {
    return false;
  }
  try {
    const value = JSON.parse(res.body);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch (_err) {
    return false;
  }
}
