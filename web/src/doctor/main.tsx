import "../shared/theme.css";
import { mountApp } from "../shared/mount";

mountApp("doctor");
