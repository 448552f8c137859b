import { Link } from "react-router-dom";
import { backendColor } from "./palette";

// Every team, user and backend name on screen is one of these links, so any view leads to the others.

export const teamPath = (team: string) => `/teams/${encodeURIComponent(team)}`;
export const userPath = (user: string) => `/users/${encodeURIComponent(user)}`;
export const backendPath = (backend: string) => `/backends/${encodeURIComponent(backend)}`;

export function TeamLink({ team }: { team: string | null | undefined }) {
  if (!team) return <span className="muted">–</span>;
  return (
    <Link to={teamPath(team)} className="team-link">
      {team}
    </Link>
  );
}

export function UserLink({ user }: { user: string | null | undefined }) {
  if (!user) return <span className="muted">–</span>;
  return (
    <Link to={userPath(user)} className="user-link">
      {user}
    </Link>
  );
}

export function BackendLink({ backend }: { backend: string }) {
  return (
    <Link to={backendPath(backend)} className="backend-link">
      <span className="swatch" style={{ background: backendColor(backend) }} aria-hidden="true" />
      {backend}
    </Link>
  );
}
