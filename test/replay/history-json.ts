/**
 * Histories to and from the JSON form `temporal workflow show --output json` writes (proto3 JSON).
 *
 * Not through `historyFromJSON` / `historyToJSON` of `@temporalio/common`: with this project's
 * lockfile, `@temporalio/common` and `@temporalio/proto` each get their own nested copy of
 * protobufjs 8 (the top-level one is protobufjs 7, for `@grpc/proto-loader`), and protobufjs's
 * proto3-JSON codec refuses a message type built by another copy ("type must be a Type"). The same
 * codec, taken from the copy `@temporalio/proto` was built with, accepts its types.
 */
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
/** The two functions of protobufjs/ext/protojson used here (its types come with the nested copy, out of reach of imports). */
interface Protojson {
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
  toJson(type: unknown, message: unknown): unknown;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const protojson = require(
  require.resolve('protobufjs/ext/protojson', {
    paths: [path.dirname(require.resolve('@temporalio/proto/package.json'))],
  }),
) as Protojson;

/** A history as the Temporal CLI and Web UI export it. */
export function historyToJson(history: History): unknown {
  return protojson.toJson(temporal.api.history.v1.History, temporal.api.history.v1.History.fromObject(history));
}

/** Back to the History the replay worker takes; fields a newer server added are ignored, as the SDK does. */
export function historyFromJson(json: unknown): History {
  return protojson.fromJson(temporal.api.history.v1.History, json, { ignoreUnknownFields: true }) as History;
}
