// The texts the kit shows itself (the server's errors carry their own text in
// the requested language). Turkish is the seed's; English is ours.
import type { Language } from "./language.js";

export const MESSAGES = {
  // Connection states (the seed's "Event'ler ve Aksiyonlar" table).
  connecting: { tr: "Bağlanıyor...", en: "Connecting..." },
  reconnecting: { tr: "Yeniden bağlanıyor...", en: "Reconnecting..." },
  reconnected: { tr: "Bağlantı sağlandı", en: "Connection restored" },
  disconnected: { tr: "Bağlantı koptu", en: "Connection lost" },
  // Network quality (the seed's section 6).
  qualityPoor: { tr: "Bağlantı kalitesi düşük", en: "Poor connection quality" },
  qualityLost: { tr: "Bağlantı kaybedildi, yeniden bağlanılıyor...", en: "Connection lost, reconnecting..." },
  // The viewer's overlay while the host is away (section 3).
  hostDisconnectedTitle: { tr: "Yayıncı bağlantısı koptu", en: "The host lost connection" },
  hostDisconnectedSubtitle: { tr: "Yeniden bağlanması bekleniyor...", en: "Waiting for the host to reconnect..." },
  hostPausedTitle: { tr: "Yayın duraklatıldı", en: "The broadcast is paused" },
  hostPausedSubtitle: { tr: "Yayıncının dönmesi bekleniyor...", en: "Waiting for the host to return..." },
  broadcastEnded: { tr: "Yayın sona erdi", en: "This broadcast has ended" },
  // Errors the kit raises when the server's own text cannot arrive.
  networkError: { tr: "Bağlantı hatası", en: "Connection error" },
  aborted: { tr: "İstek iptal edildi", en: "The request was cancelled" },
  unexpectedResponse: { tr: "Beklenmeyen bir yanıt alındı, tekrar deneyin", en: "Unexpected answer, please try again" },
  unauthorized: { tr: "Oturum süresi doldu, tekrar giriş yapın", en: "Your session has expired, please sign in again" },
  notFound: { tr: "İstenen adres bulunamadı", en: "The requested address was not found" },
  payloadTooLarge: { tr: "İstek çok büyük", en: "The request is too large" },
  rateLimited: { tr: "Çok fazla istek, biraz bekleyin", en: "Too many requests, please wait a moment" },
  internalError: { tr: "Bir hata oluştu, tekrar deneyin", en: "Something went wrong, please try again" },
  serviceUnavailable: {
    tr: "Servis geçici olarak kullanılamıyor, biraz sonra tekrar deneyin",
    en: "The service is temporarily unavailable, please try again shortly",
  },
  timeout: { tr: "İstek zaman aşımına uğradı, tekrar deneyin", en: "The request timed out, please try again" },
} as const satisfies Record<string, Record<Language, string>>;

export type MessageKey = keyof typeof MESSAGES;

export function message(key: MessageKey, language: Language): string {
  return MESSAGES[key][language];
}
