// Network-quality handling of the seed's section 6: the local participant's
// quality turning Poor shows a toast and, in a video broadcast, turns the
// camera off (audio-only is what a poor uplink can carry); Lost shows a toast.
import { ConnectionQuality, RoomEvent } from "livekit-client";
import type { Participant, Room, RoomOptions } from "livekit-client";
import { currentLanguage } from "./language.js";
import type { LanguageSource } from "./language.js";
import { message } from "./messages.js";

/** LiveKit's recommended options for the app's rooms: quality adapts to what
 * is watched (adaptiveStream) and unwatched layers are not sent (dynacast). */
export const recommendedRoomOptions = { adaptiveStream: true, dynacast: true } as const satisfies Partial<RoomOptions>;

export type QualitySessionType = "video_live" | "audio_live" | "video_call" | "audio_call";

export interface QualityPolicyOptions {
  sessionType: QualitySessionType;
  onToast: (text: string, quality: "poor" | "lost") => void;
  language?: LanguageSource;
  /** Turning the camera off failed (the toast was still shown). */
  onError?: (error: unknown) => void;
}

/** What the policy needs of a room (a livekit-client `Room`, or a fake). */
export type QualityRoom = Pick<Room, "on" | "off"> & {
  localParticipant: Pick<Room["localParticipant"], "setCameraEnabled" | "isCameraEnabled">;
};

/** Applies the policy to `room`; returns the function that stops it. */
export function attachQualityPolicy(room: QualityRoom, options: QualityPolicyOptions): () => void {
  let last: ConnectionQuality | null = null;
  const onQuality = (quality: ConnectionQuality, participant: Pick<Participant, "isLocal">) => {
    if (!participant.isLocal || quality === last) return;
    last = quality;
    const language = currentLanguage(options.language);
    if (quality === ConnectionQuality.Poor) {
      options.onToast(message("qualityPoor", language), "poor");
      if (options.sessionType === "video_live" && room.localParticipant.isCameraEnabled) {
        room.localParticipant.setCameraEnabled(false).catch((error: unknown) => options.onError?.(error));
      }
    } else if (quality === ConnectionQuality.Lost) {
      options.onToast(message("qualityLost", language), "lost");
    }
  };
  room.on(RoomEvent.ConnectionQualityChanged, onQuality);
  return () => {
    room.off(RoomEvent.ConnectionQualityChanged, onQuality);
  };
}
