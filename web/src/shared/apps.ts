/** The web apps built from this project. Each has src/<id>/main.tsx and apps/<id>/index.html. */
export const APP_IDS = ["patient", "doctor", "admin"] as const;
export type AppId = (typeof APP_IDS)[number];

export const PRODUCT_NAME = "HCW@Home";

export const APP_TITLES: Readonly<Record<AppId, string>> = {
  patient: "Patient",
  doctor: "Doctor",
  admin: "Administration",
};
