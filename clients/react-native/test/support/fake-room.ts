// A minimal stand-in for livekit-client's Room: events and the camera.
type Listener = (...args: never[]) => unknown;

export class FakeRoom {
  private readonly listeners = new Map<string, Set<Listener>>();
  readonly localParticipant: FakeLocalParticipant;

  constructor(options: { cameraEnabled?: boolean; cameraFails?: boolean } = {}) {
    this.localParticipant = new FakeLocalParticipant(options.cameraEnabled ?? true, options.cameraFails ?? false);
  }

  on(event: string, listener: Listener): this {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return this;
  }

  off(event: string, listener: Listener): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  emit(event: string, ...args: unknown[]): boolean {
    const set = this.listeners.get(event);
    if (set === undefined || set.size === 0) return false;
    for (const listener of [...set]) (listener as (...a: unknown[]) => unknown)(...args);
    return true;
  }

  listenerCount(event?: string): number {
    if (event !== undefined) return this.listeners.get(event)?.size ?? 0;
    let total = 0;
    for (const set of this.listeners.values()) total += set.size;
    return total;
  }
}

export class FakeLocalParticipant {
  /** Every `enabled` passed to setCameraEnabled. */
  readonly cameraCalls: boolean[] = [];
  readonly isLocal = true;

  constructor(
    public isCameraEnabled: boolean,
    public cameraFails: boolean,
  ) {}

  setCameraEnabled(enabled: boolean): Promise<undefined> {
    this.cameraCalls.push(enabled);
    if (this.cameraFails) return Promise.reject(new Error("camera: permission denied"));
    this.isCameraEnabled = enabled;
    return Promise.resolve(undefined);
  }
}
