/**
 * Every error leaves as the OpenAI envelope {"error":{"message","type","param","code"}}:
 * handler errors, fastify's own (body parsing, long ids), @fastify/static's, unknown
 * routes, and what Node's HTTP parser refuses before fastify sees a request (malformed
 * HTTP, oversized headers: clientErrorHandler). Every one is a catalogue code
 * (src/errors.ts). Server errors are logged at error level with their code and the
 * request id.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import type { ErrorCode } from '../../errors.js';
import { ApiError, toApiError } from '../api-error.js';
import { shared } from './shared.js';

const FASTIFY_CODES: Record<string, { code: ErrorCode; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'TESSERA_ERR_INVALID_JSON', message: 'the request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'TESSERA_ERR_INVALID_JSON', message: 'the request body is empty; send a JSON object' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'TESSERA_ERR_BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'TESSERA_ERR_UNSUPPORTED_MEDIA_TYPE', message: 'send the body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'TESSERA_ERR_INVALID_CONTENT_LENGTH' },
  // Router failures (frameworkErrors below).
  FST_ERR_MAX_PARAM_LENGTH: { code: 'TESSERA_ERR_URI_TOO_LONG', message: 'a path segment is longer than 100 characters' },
  FST_ERR_BAD_URL: { code: 'TESSERA_ERR_INVALID_URL', message: 'the request path is not a valid URL' },
};

/**
 * Catalogue codes for statuses fastify or its plugins (@fastify/static) raise without
 * one of ours. A 403 here is a refused static file, not a key problem: only the key
 * check is an authentication_error (the catalogue entry says so).
 */
const STATUS_CODES: Record<number, ErrorCode> = {
  403: 'TESSERA_ERR_FORBIDDEN',
  404: 'TESSERA_ERR_NOT_FOUND',
  405: 'TESSERA_ERR_METHOD_NOT_ALLOWED',
  406: 'TESSERA_ERR_NOT_ACCEPTABLE',
  414: 'TESSERA_ERR_URI_TOO_LONG',
  416: 'TESSERA_ERR_RANGE_NOT_SATISFIABLE',
  431: 'TESSERA_ERR_HEADERS_TOO_LARGE',
};

/** A framework error (status below 500, or a router failure) as the catalogue code it means. */
function fromFastify(e: FastifyError): ApiError {
  const known = FASTIFY_CODES[e.code];
  const status = typeof e.statusCode === 'number' ? e.statusCode : 400;
  // SyntaxError from JSON.parse arrives with statusCode 400 and no FST code.
  const code: ErrorCode = known?.code ?? (e instanceof SyntaxError ? 'TESSERA_ERR_INVALID_JSON' : (STATUS_CODES[status] ?? 'TESSERA_ERR_INVALID_REQUEST'));
  const message = known?.message ?? (e instanceof SyntaxError ? `the request body is not valid JSON: ${e.message}` : e.message);
  // The framework's status stands (413, 415, ...); the catalogue gives type and envelope code.
  return new ApiError(code, message, { status, param: code === 'TESSERA_ERR_BODY_TOO_LARGE' || code === 'TESSERA_ERR_INVALID_JSON' ? 'body' : null });
}

/** Logs a server error once, at error level, with the code the client saw and the request id. */
export function logServerError(request: FastifyRequest, apiError: ApiError, error?: unknown): void {
  if (apiError.status < 500) return;
  request.log.error({ reqId: request.id, status: apiError.status, code: apiError.code, err: error }, `request failed: ${apiError.status} ${apiError.code}: ${apiError.message}`);
}

export function sendError(request: FastifyRequest, reply: FastifyReply, apiError: ApiError, error?: unknown): void {
  logServerError(request, apiError, error);
  void reply.code(apiError.status).headers(apiError.headers).send(apiError.toJSON());
}

/** fastify's `frameworkErrors` option: router failures (FST_ERR_BAD_URL 400, FST_ERR_MAX_PARAM_LENGTH 414) as the envelope. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  sendError(request, reply, fromFastify(error));
}

/** What Node's HTTP parser refuses, by its error code. */
function parserError(code: string | undefined): { status: number; reason: string; error: ApiError } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, reason: 'Request Header Fields Too Large', error: new ApiError('TESSERA_ERR_HEADERS_TOO_LARGE', 'the request headers are too large') };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, reason: 'Request Timeout', error: new ApiError('TESSERA_ERR_REQUEST_TIMEOUT', 'the request took too long to arrive') };
  }
  return { status: 400, reason: 'Bad Request', error: new ApiError('TESSERA_ERR_MALFORMED_REQUEST', 'malformed HTTP request') };
}

/**
 * Answers what Node's HTTP parser rejects (fastify's `clientErrorHandler` option): the
 * envelope over a raw socket, then close. Nothing is written to a socket already in use.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) return;
  const { status, reason, error: apiError } = parserError(error.code);
  const body = JSON.stringify(apiError.toJSON());
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
    const error = new ApiError('TESSERA_ERR_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0].slice(0, 200)}`);
    void reply.code(404).send(error.toJSON());
  });
});
