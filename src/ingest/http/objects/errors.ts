/**
 * The object API's error catalogue, in MediaStore's shape: the status, an `x-amzn-ErrorType` header and a JSON
 * body `{"__type": ..., "Message": ...}`. @aws-sdk/client-mediastore-data (AwsRestJsonProtocol) reads the type
 * from the header (HEAD answers have no body) or `__type`, and throws its typed exception for the modelled ones
 * (ObjectNotFoundException, ContainerNotFoundException, RequestedRangeNotSatisfiableException,
 * InternalServerError); the others arrive as MediaStoreDataServiceException with that name and status.
 */
export const OBJECT_ERRORS = {
  BadRequestException: 400,
  AccessDeniedException: 403,
  ObjectNotFoundException: 404,
  ContainerNotFoundException: 404,
  MethodNotAllowedException: 405,
  RequestTimeoutException: 408,
  PayloadTooLargeException: 413,
  RequestedRangeNotSatisfiableException: 416,
  InternalServerError: 500,
  ServiceUnavailableException: 503,
} as const;

export type ObjectErrorType = keyof typeof OBJECT_ERRORS;

export class ObjectApiError extends Error {
  readonly status: number;
  constructor(
    readonly type: ObjectErrorType,
    message: string,
    /** Logged, never sent (e.g. which header or rule failed). */
    readonly reason: string = message,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ObjectApiError';
    this.status = OBJECT_ERRORS[type];
  }
}
