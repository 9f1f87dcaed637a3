"""The console's widgets, one per module: the status banner (``banner``), the desk's footer (``footer``),
the demo's caption bar (``caption``), the base desk screen (``desk_screen``), a modal's kept backdrop
(``backdrop``), a dialog's frame (``dialog``), the live table (``livetable``), DataTable helpers
(``tables``), repaint-on-change (``content``) and the screens' names and keys (``tabs``)."""
