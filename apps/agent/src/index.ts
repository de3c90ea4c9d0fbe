export { createChunkUploader, encodeUploadChunk, uploadEncoded } from './uplink/chunk-uploader.js';
export type { ChunkUploader, EncodedChunk, PendingChunk, UploadStats } from './uplink/chunk-uploader.js';
export { uplinkFromClient } from './uplink/uplink.js';
export type { Uplink } from './uplink/uplink.js';
export { createChunkSink, createContentSender, sendContent } from './pipeline/send-content.js';
export type { ChunkSink, ContentSender, SentContent } from './pipeline/send-content.js';
