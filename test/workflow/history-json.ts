// Workflow histories to and from Temporal's JSON history format (what `temporal workflow show --output json`
// writes and the Temporal UI downloads), for the recorded histories the replay test checks.
//
// Why not historyToJSON/historyFromJSON from @temporalio/common/lib/proto-utils: in this dependency tree
// @temporalio/common and @temporalio/proto each get their own nested copy of protobufjs 8 (the root
// node_modules holds protobufjs 7 for @grpc/proto-loader), so the SDK's helpers pass a Type of one copy to
// the protojson of the other and fail with "type must be a Type". Here both come from the copy
// @temporalio/proto is built on.
import path from 'node:path';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

type History = proto.temporal.api.history.v1.IHistory;

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

const protoPackageDir = path.dirname(require.resolve('@temporalio/proto/package.json'));
// A require by resolved path: the protojson extension of the protobufjs copy that @temporalio/proto uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const protojson = require(
  require.resolve('protobufjs/ext/protojson', { paths: [protoPackageDir] }),
) as ProtoJson;
const root = patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown };
const historyType = root.lookupType('temporal.api.history.v1.History');

export function historyToJson(history: History): string {
  const message = proto.temporal.api.history.v1.History.fromObject(history);
  return `${JSON.stringify(protojson.toJson(historyType, message), null, 2)}\n`;
}

/** Tolerates fields a newer server or SDK may have added, as the SDK's own loader does. */
export function historyFromJson(text: string): History {
  const json = JSON.parse(text) as { events?: unknown };
  if (!Array.isArray(json.events)) throw new TypeError('not a workflow history: no "events" array');
  return protojson.fromJson(historyType, json, { ignoreUnknownFields: true }) as History;
}
