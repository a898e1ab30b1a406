// The real speaker's factory. Until the bgp-speaker branch (speaker/index.ts: newSpeaker) is
// merged, starting BGP fails with this error instead of running without sessions.
import type { BgpSpeaker, SpeakerParams } from './speaker/types.js';

/** Creates the BGP-4 speaker. */
export function newSpeaker(_p: SpeakerParams): BgpSpeaker {
  throw new Error('the BGP speaker is not part of this build yet (branch bgp-speaker)');
}
