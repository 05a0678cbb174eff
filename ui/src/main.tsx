import { render } from "preact";
import { App } from "./components/App";
import { api } from "./ipc";
import { Store } from "./store";
import { applyTheme, loadTheme } from "./theme";
import "./styles.css";

performance.mark("start:script");
applyTheme(loadTheme());
const store = new Store(api);
render(<App store={store} />, document.getElementById("app")!);
void store.start();
