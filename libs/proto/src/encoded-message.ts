import type { DescMessage } from '@bufbuild/protobuf';

/**
 * A message of `schema` already in protobuf binary form. The bridge's serializers send its
 * bytes as they are, so a hot path can build a large message itself (see encodeChunkMessage)
 * instead of going through protobuf-es's writer, which for a message carrying a megabyte of
 * chunk data grows a zero-filled buffer by doubling, shifts the payload to fit each length
 * prefix and copies it once more at the end.
 *
 * The bytes are trusted to be a valid encoding of `schema`: build them with an encoder that
 * is tested against toBinary, never from outside input.
 */
export class EncodedMessage<Desc extends DescMessage = DescMessage> {
  constructor(
    readonly schema: Desc,
    readonly bytes: Uint8Array,
  ) {}
}
