/**
 * Every error leaves as the OpenAI envelope {"error":{"message","type","param","code"}}:
 * handler errors, fastify's own (body parsing, long ids), @fastify/static's, unknown
 * routes, and what Node's HTTP parser refuses before fastify sees a request (malformed
 * HTTP, oversized headers: clientErrorHandler). Server errors are logged at error level
 * with their code and the request id.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { ApiError, toApiError } from '../api-error.js';
import { shared } from './shared.js';

const FASTIFY_CODES: Record<string, { code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', message: 'the request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', message: 'the request body is empty; send a JSON object' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'body_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', message: 'send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_content_length' },
};

/** Status-specific codes for errors fastify or its plugins raise without one of ours. */
const STATUS_CODES: Record<number, string> = { 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed', 406: 'not_acceptable', 414: 'uri_too_long', 416: 'range_not_satisfiable', 431: 'headers_too_large' };

function fromFastify(e: FastifyError): ApiError {
  const known = FASTIFY_CODES[e.code];
  // SyntaxError from JSON.parse arrives with statusCode 400 and no FST code.
  const code = known?.code ?? (e instanceof SyntaxError ? 'invalid_json' : (STATUS_CODES[e.statusCode!] ?? 'invalid_request'));
  const message = known?.message ?? (e instanceof SyntaxError ? `the request body is not valid JSON: ${e.message}` : e.message);
  // A 403 here is a refused static file, not a key problem: only the key check is an authentication_error.
  return new ApiError(e.statusCode!, message, { code, type: 'invalid_request_error', param: code === 'body_too_large' || code === 'invalid_json' ? 'body' : null });
}

/** Logs a server error once, at error level, with the code the client saw and the request id. */
export function logServerError(request: FastifyRequest, apiError: ApiError, error?: unknown): void {
  if (apiError.status < 500) return;
  request.log.error({ reqId: request.id, status: apiError.status, code: apiError.code, err: error }, `request failed: ${apiError.status} ${apiError.code ?? 'error'}: ${apiError.message}`);
}

export function sendError(request: FastifyRequest, reply: FastifyReply, apiError: ApiError, error?: unknown): void {
  logServerError(request, apiError, error);
  void reply.code(apiError.status).headers(apiError.headers).send(apiError.toJSON());
}

/** fastify's `frameworkErrors` option: router failures (FST_ERR_BAD_URL 400, FST_ERR_MAX_PARAM_LENGTH 414) as the envelope. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = typeof error.statusCode === 'number' ? error.statusCode : 400;
  const code = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'uri_too_long' : error.code === 'FST_ERR_BAD_URL' ? 'invalid_url' : (STATUS_CODES[status] ?? 'invalid_request');
  const message = code === 'uri_too_long' ? 'a path segment is longer than 100 characters' : code === 'invalid_url' ? 'the request path is not a valid URL' : error.message;
  sendError(request, reply, new ApiError(status, message, { code, type: status >= 500 ? 'server_error' : 'invalid_request_error' }));
}

/**
 * Answers what Node's HTTP parser rejects (fastify's `clientErrorHandler` option): the
 * envelope over a raw socket, then close. Nothing is written to a socket already in use.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) return;
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  const message =
    status === 431 ? 'the request headers are too large' : status === 408 ? 'the request took too long to arrive' : 'malformed HTTP request';
  const body = JSON.stringify(
    new ApiError(status, message, { code: status === 431 ? 'headers_too_large' : status === 408 ? 'request_timeout' : 'malformed_request', type: 'invalid_request_error' }).toJSON(),
  );
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export const errorsPlugin = shared(async (app) => {
  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) return sendError(request, reply, error, error.status >= 500 ? error : undefined);
    if (typeof (error as FastifyError).statusCode === 'number' && (error as FastifyError).statusCode! < 500) {
      return sendError(request, reply, fromFastify(error as FastifyError));
    }
    sendError(request, reply, toApiError(error), error);
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new ApiError(404, `no route for ${request.method} ${request.url.split('?')[0].slice(0, 200)}`, { code: 'not_found' });
    void reply.code(404).send(error.toJSON());
  });
});
