import type { DescMessage, DescMethod } from '@bufbuild/protobuf';

/**
 * A method descriptor narrowed to one RPC shape. Generated `GenService` methods carry
 * their kind and message schemas as literal types, so `M extends DescMethodUnary<infer
 * I, infer O>` recovers the request and response types for typed clients and servers.
 */
type DescMethodTyped<K extends DescMethod['methodKind'], I extends DescMessage, O extends DescMessage> = Omit<
  DescMethod,
  'methodKind' | 'input' | 'output'
> & {
  readonly methodKind: K;
  readonly input: I;
  readonly output: O;
};

export type DescMethodUnary<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = DescMethodTyped<
  'unary',
  I,
  O
>;
export type DescMethodServerStreaming<
  I extends DescMessage = DescMessage,
  O extends DescMessage = DescMessage,
> = DescMethodTyped<'server_streaming', I, O>;
export type DescMethodClientStreaming<
  I extends DescMessage = DescMessage,
  O extends DescMessage = DescMessage,
> = DescMethodTyped<'client_streaming', I, O>;
export type DescMethodBiDiStreaming<
  I extends DescMessage = DescMessage,
  O extends DescMessage = DescMessage,
> = DescMethodTyped<'bidi_streaming', I, O>;

/** gRPC path of a method: `/package.Service/Method`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

export function hasRequestStream(method: DescMethod): boolean {
  return method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming';
}

export function hasResponseStream(method: DescMethod): boolean {
  return method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming';
}
