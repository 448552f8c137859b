// Ownership sentinels: the stream workers' and the API's own values (schemas/owners.json, read by schemas/owners.py).
import sentinels from "../../schemas/owners.json";

/** The team (and user) of files no rule or owner maps to anyone. */
export const UNOWNED: string = sentinels.unowned;
