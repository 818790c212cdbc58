// The part of TensorBoard's published protobuf schema that event files need: Event, Summary (with
// images, tensors and plugin metadata), TensorProto, SessionLog, and the hparams plugin's
// HParamsPluginData, with the field numbers of tensorboard/compat/proto/*.proto and
// tensorboard/plugins/hparams/*.proto (and google/protobuf/struct.proto for hparam values).
// Only the fields this project writes or reads are declared; protobufjs skips the others.
import * as protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package tensorboard;

message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
    SessionLog session_log = 7;
  }
}

message SessionLog {
  enum SessionStatus {
    STATUS_UNSPECIFIED = 0;
    START = 1;
    STOP = 2;
    CHECKPOINT = 3;
  }
  SessionStatus status = 1;
  string checkpoint_path = 2;
  string msg = 3;
}

message SummaryMetadata {
  message PluginData {
    string plugin_name = 1;
    bytes content = 2;
  }
  PluginData plugin_data = 1;
  string display_name = 2;
  string summary_description = 3;
  int32 data_class = 4;
}

message Summary {
  message Image {
    int32 height = 1;
    int32 width = 2;
    int32 colorspace = 3;
    bytes encoded_image_string = 4;
  }
  message Value {
    string tag = 1;
    SummaryMetadata metadata = 9;
    oneof value {
      float simple_value = 2;
      Image image = 4;
      TensorProto tensor = 8;
    }
  }
  repeated Value value = 1;
}

message TensorShapeProto {
  message Dim {
    int64 size = 1;
    string name = 2;
  }
  repeated Dim dim = 2;
}

message TensorProto {
  int32 dtype = 1;
  TensorShapeProto tensor_shape = 2;
  bytes tensor_content = 4;
  repeated float float_val = 5 [packed = true];
  repeated double double_val = 6 [packed = true];
  repeated bytes string_val = 8;
}
`;

const HPARAMS_SCHEMA = `
syntax = "proto3";
package tensorboard.hparams;

message HParamsPluginData {
  int32 version = 1;
  oneof data {
    Experiment experiment = 2;
    SessionStartInfo session_start_info = 3;
    SessionEndInfo session_end_info = 4;
  }
}

message Experiment {
  string description = 1;
  string user = 2;
  double time_created_secs = 3;
  repeated HParamInfo hparam_infos = 4;
  repeated MetricInfo metric_infos = 5;
  string name = 6;
}

message HParamInfo {
  string name = 1;
  string display_name = 2;
  string description = 3;
  int32 type = 4;
}

message MetricName {
  string group = 1;
  string tag = 2;
}

message MetricInfo {
  MetricName name = 1;
  string display_name = 3;
  string description = 4;
  int32 dataset_type = 5;
}

message SessionStartInfo {
  map<string, Value> hparams = 1;
  string model_uri = 2;
  string monitor_url = 3;
  string group_name = 4;
  double start_time_secs = 5;
}

message SessionEndInfo {
  int32 status = 1;
  double end_time_secs = 2;
}

// google.protobuf.Value, as struct.proto numbers it (lists and structs are not used here)
message Value {
  oneof kind {
    int32 null_value = 1;
    double number_value = 2;
    string string_value = 3;
    bool bool_value = 4;
  }
}
`;

const root = new protobuf.Root();
protobuf.parse(SCHEMA, root, { keepCase: true });
protobuf.parse(HPARAMS_SCHEMA, root, { keepCase: true });

export const EventProto = root.lookupType('tensorboard.Event');
export const HParamsPluginDataProto = root.lookupType('tensorboard.hparams.HParamsPluginData');

/** TensorFlow's DataType numbers (types.proto) for the tensors written here. */
export const DT_FLOAT = 1;
export const DT_STRING = 7;
/** SummaryMetadata.data_class (summary.proto): DATA_CLASS_TENSOR (text is a string tensor). */
export const DATA_CLASS_TENSOR = 2;
/** SessionLog.SessionStatus.START: events after it with a smaller step make TensorBoard drop the
 * older ones at or beyond that step (how a resumed run continues one curve). */
export const SESSION_START = 1;
/** hparams api.proto: DataType and Status enums, DatasetType. */
export const HPARAM_TYPE = { string: 1, bool: 2, float64: 3 } as const;
export const SESSION_STATUS = { unknown: 0, success: 1, failure: 2, running: 3 } as const;
export const DATASET_VALIDATION = 2;

/** A decoded event, as protobufjs gives it (fields by their schema names). */
export interface EventMessage {
  wall_time: number;
  step?: number | { toNumber(): number };
  file_version?: string;
  session_log?: { status?: number; msg?: string };
  summary?: { value: SummaryValueMessage[] };
}

export interface SummaryValueMessage {
  tag: string;
  simple_value?: number;
  image?: { height: number; width: number; colorspace: number; encoded_image_string: Uint8Array };
  tensor?: { dtype?: number; float_val?: number[]; double_val?: number[]; string_val?: Uint8Array[]; tensor_content?: Uint8Array };
  metadata?: { plugin_data?: { plugin_name?: string; content?: Uint8Array }; data_class?: number };
}
