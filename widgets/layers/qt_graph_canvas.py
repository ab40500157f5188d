"""The layer graph on a pyqtgraph canvas: pan, zoom, click, search, colour by statistic.

All nodes are one ``GraphicsObject`` that paints only the boxes in the exposed area
(and their text only when it would be legible), all edges are one path: a 500-node
graph is two scene items, not a thousand, so it pans and zooms fluidly.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from visualizer.analysis.layers.graph import (
    COLOR_STATS,
    FIXED_RANGE,
    SPARSITY,
    GraphResult,
    LayerNode,
)
from visualizer.analysis.layers.lineage import PruningInfo
from widgets.layers import colors

TEXT_PX = 13.0  # scene units of one text line; legible when >= MIN_TEXT_PX on screen
MIN_TEXT_PX = 5.0
TYPE_PALETTE = {
    "Conv": (166, 206, 227), "Linear": (178, 223, 138), "BatchNorm": (253, 191, 111),
    "ReLU": (251, 154, 153), "Pool": (202, 178, 214), "add": (255, 255, 153),
    "collapsed": (200, 200, 200), "placeholder": (240, 240, 240), "output": (240, 240, 240),
}


def fmt_count(n: float) -> str:
    n = float(n)
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.0f}"


def node_lines(node: LayerNode, color_by: str,
               pruning: PruningInfo | None = None) -> tuple[str, str, str]:
    """The three text lines of a node box: name, type and shape, then what it is
    coloured by (``4.64k params · 90.1% zero``; a channel-pruned layer says how many of
    its parent's channels it kept instead of its parameter count)."""
    shape = "×".join(map(str, node.shape)) if node.shape else "?"
    kind = node.type_name
    third = f"{fmt_count(node.n_params)} params" if node.n_params else "no params"
    kept = pruning.channels_text(node.module_path, short=True) if pruning else None
    if kept and color_by == SPARSITY:
        third = kept
    if color_by in node.values and color_by != "n_params":
        v = node.values[color_by]
        third += (f" · {v:.1%} zero" if color_by == SPARSITY else
                  f" · {v:.2%}" if color_by == "dead_fraction" else f" · {v:.3g}")
    return node.name, f"{kind} · {shape}", third


def type_colour(node: LayerNode) -> tuple[int, int, int]:
    if node.op in TYPE_PALETTE:
        return TYPE_PALETTE[node.op]
    for key, rgb in TYPE_PALETTE.items():
        if key in node.type_name:
            return rgb
    return colors.NO_VALUE


class _NodesItem(pg.GraphicsObject):
    """Every node box, painted in one go."""

    def __init__(self, canvas: QtGraphCanvas):
        super().__init__()
        self.canvas = canvas
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setAcceptHoverEvents(True)
        self._rect = QRectF(0, 0, 1, 1)
        self._font = QFont()
        self._font.setPixelSize(int(TEXT_PX))
        self._bold = QFont(self._font)
        self._bold.setBold(True)

    def set_bounds(self, rect: QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = rect
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def paint(self, painter, option, widget=None) -> None:
        c = self.canvas
        if c.layout is None:
            return
        lay = c.layout
        exposed = option.exposedRect
        x0, x1 = exposed.left(), exposed.right()
        y0, y1 = exposed.top(), exposed.bottom()
        vis = np.flatnonzero((lay.x + lay.width / 2 >= x0) & (lay.x - lay.width / 2 <= x1)
                             & (lay.y + lay.height / 2 >= y0) & (lay.y - lay.height / 2 <= y1))
        scale = abs(painter.worldTransform().m22()) or 1.0
        show_text = TEXT_PX * scale >= MIN_TEXT_PX
        border = QPen(QColor("#5f6b7a"))
        border.setCosmetic(True)
        border.setWidthF(1.0)
        painter.setRenderHint(painter.RenderHint.Antialiasing, False)
        boxes, fills = c.boxes, c.fill_colours
        for i in vis.tolist():
            rect = QRectF(*boxes[i])
            painter.setPen(border)
            painter.setBrush(fills[i])
            painter.drawRect(rect)
            if show_text:
                painter.setPen(QColor(c.text_colours[i]))
                inner = rect.adjusted(6, 3, -6, -3)
                lines = c.lines[i]
                for k, line in enumerate(lines):
                    painter.setFont(self._bold if k == 0 else self._font)
                    r = QRectF(inner.left(), inner.top() + k * (TEXT_PX + 2), inner.width(),
                               TEXT_PX + 2)
                    text = painter.fontMetrics().elidedText(
                        line, Qt.TextElideMode.ElideMiddle, int(r.width()))
                    painter.drawText(r, int(Qt.AlignmentFlag.AlignLeft
                                            | Qt.AlignmentFlag.AlignVCenter), text)
        for idx, colour, width in ((c.matches, colors.MATCH, 3.0),
                                   (c.selected_index_list(), colors.SELECTED, 4.0)):
            pen = QPen(QColor(colour))
            pen.setCosmetic(True)
            pen.setWidthF(width)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for i in idx:
                x0, y0, w, h = boxes[i]
                painter.drawRect(QRectF(x0 - 3, y0 - 3, w + 6, h + 6))

    def _hit(self, pos: QPointF) -> int | None:
        lay = self.canvas.layout
        if lay is None or not lay.names:
            return None
        hit = np.flatnonzero((np.abs(lay.x - pos.x()) <= lay.width / 2)
                             & (np.abs(lay.y - pos.y()) <= lay.height / 2))
        return int(hit[0]) if hit.size else None

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        i = self._hit(ev.pos())
        if i is None:
            ev.ignore()
            return
        ev.accept()
        name = self.canvas.layout.names[i]
        if ev.double():
            self.canvas.node_double_clicked.emit(name)
        else:
            self.canvas.node_clicked.emit(name)

    def hoverEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if ev.isExit():
            self.setToolTip("")
            return
        i = self._hit(ev.pos())
        self.setToolTip(self.canvas.tooltip(i) if i is not None else "")


class QtGraphCanvas(pg.GraphicsView):
    """Draws a :class:`GraphResult`; emits ``node_clicked(name)``."""

    node_clicked = Signal(str)
    node_double_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.vb = pg.ViewBox(lockAspect=True, enableMenu=False)
        self.vb.invertY(True)
        self.setCentralItem(self.vb)
        self.result: GraphResult | None = None
        self.layout = None
        self.nodes: list[LayerNode] = []
        self.index: dict[str, int] = {}
        self.fill = np.zeros((0, 3), np.uint8)
        self.fill_colours: list[QBrush] = []
        self.boxes: list[tuple[float, float, float, float]] = []
        self.text_colours: list[str] = []
        self.lines: list[tuple[str, str, str]] = []
        self.matches: list[int] = []
        self.selected: str | None = None
        self.pruning: PruningInfo | None = None  # the shown model's lineage, if pruned
        self.color_by = "mean_activation"
        self.range = (float("nan"), float("nan"))
        self.edges_item = QGraphicsPathItem()
        pen = QPen(QColor("#7a8594"))
        pen.setCosmetic(True)
        pen.setWidthF(1.3)
        self.edges_item.setPen(pen)
        self.arrows_item = QGraphicsPathItem()
        self.arrows_item.setPen(QPen(Qt.PenStyle.NoPen))
        self.arrows_item.setBrush(QBrush(QColor("#7a8594")))
        self.nodes_item = _NodesItem(self)
        for item in (self.edges_item, self.arrows_item, self.nodes_item):
            self.vb.addItem(item)

    # -- content -----------------------------------------------------------------
    def set_graph(self, result: GraphResult | None) -> None:
        self.result = result
        self.layout = result.layout if result is not None else None
        self.nodes = list(result.graph.nodes) if result is not None else []
        self.index = {n.name: i for i, n in enumerate(self.nodes)}
        self.matches = []
        lay = self.layout
        self.boxes = [] if lay is None else list(zip(
            (lay.x - lay.width / 2).tolist(), (lay.y - lay.height / 2).tolist(),
            lay.width.tolist(), lay.height.tolist(), strict=True))
        self._build_edges()
        self.set_color_by(self.color_by)
        if self.layout is not None and self.layout.names:
            x0, y0, x1, y1 = self.layout.bounds()
            self.nodes_item.set_bounds(QRectF(x0 - 10, y0 - 10, x1 - x0 + 20, y1 - y0 + 20))
        self.fit_initial()

    def _build_edges(self) -> None:
        path, arrows = QPainterPath(), QPainterPath()
        if self.layout is not None:
            # Python floats only: numpy scalars handed to Qt corrupt refcounts in PySide6.
            for _, _, pts in self.layout.edges:
                pts = pts.tolist()
                path.moveTo(QPointF(*pts[0]))
                for p in pts[1:]:
                    path.lineTo(QPointF(*p))
                (xe, ye), (xp, yp) = pts[-1], pts[-2]
                norm = float(np.hypot(xe - xp, ye - yp)) or 1.0
                d = ((xe - xp) / norm * 9, (ye - yp) / norm * 9)
                nrm = (-d[1] * 0.5, d[0] * 0.5)
                arrows.moveTo(QPointF(xe, ye))
                arrows.lineTo(QPointF(xe - d[0] + nrm[0], ye - d[1] + nrm[1]))
                arrows.lineTo(QPointF(xe - d[0] - nrm[0], ye - d[1] - nrm[1]))
                arrows.closeSubpath()
        self.edges_item.setPath(path)
        self.arrows_item.setPath(arrows)

    def set_color_by(self, key: str) -> None:
        self.color_by = key
        n = len(self.nodes)
        if key in COLOR_STATS:
            vals = np.array([nd.values.get(key, np.nan) for nd in self.nodes], dtype=np.float64)
            t, lo, hi = colors.normalise(vals, log=COLOR_STATS[key][1],
                                         fixed=FIXED_RANGE.get(key))
            self.fill = colors.colours(t, colors.STAT_LUT.get(key, colors.VIRIDIS))
            self.range = (lo, hi)
        else:
            self.fill = np.array([type_colour(nd) for nd in self.nodes], dtype=np.uint8
                                 ).reshape(n, 3)
            self.range = (float("nan"), float("nan"))
        self.text_colours = [colors.text_colour(c) for c in self.fill]
        self.fill_colours = [QBrush(QColor(*c)) for c in self.fill.tolist()]
        self.lines = [node_lines(nd, key, self.pruning) for nd in self.nodes]
        self.nodes_item.update()

    def selected_index_list(self) -> list[int]:
        i = self.index.get(self.selected) if self.selected else None
        return [i] if i is not None else []

    def node_for_layer(self, layer: str | None) -> str | None:
        """The node showing ``layer`` (itself, or the collapsed module that holds it)."""
        if layer is None:
            return None
        if layer in self.index:
            return layer
        best = None
        for name in self.index:
            if self.nodes[self.index[name]].op == "collapsed" and layer.startswith(name + "."):
                if best is None or len(name) > len(best):
                    best = name
        return best

    def set_selected(self, name: str | None, *, center: bool = True) -> None:
        self.selected = name
        self.nodes_item.update()
        if center and name in self.index:
            self.ensure_visible(name)

    def search(self, text: str) -> list[str]:
        """Highlight nodes whose name or type contains ``text``; returns their names."""
        text = text.strip().lower()

        def hit(n: LayerNode) -> bool:
            return text in n.name.lower() or text in n.type_name.lower()

        hidden: set[str] = set()  # folded modules with a matching member
        full = self.result.full if self.result is not None else None
        if text and full is not None:
            folded = [n.name for n in self.nodes if n.op == "collapsed"]
            for m in full.nodes:
                path = m.module_path or m.scope or ""
                if hit(m):
                    hidden.update(f for f in folded if path.startswith(f + "."))
        self.matches = [i for i, n in enumerate(self.nodes)
                        if text and (hit(n) or n.name in hidden)]
        self.nodes_item.update()
        return [self.nodes[i].name for i in self.matches]

    def tooltip(self, i: int) -> str:
        n = self.nodes[i]
        lines = [n.name, f"{n.type_name} ({n.op})",
                 "output " + ("×".join(map(str, n.shape)) if n.shape else "unknown"),
                 f"{n.n_params:,} parameters"]
        for key, (title, _) in COLOR_STATS.items():
            if key in n.values and key != "n_params":
                value = n.values[key]
                if key != SPARSITY:
                    lines.append(f"{title}: {value:.4g}")
                elif self.pruning is not None and self.pruning.structured \
                        and n.module_path in self.pruning.layer_sparsity:
                    continue  # its channels removed: the lineage line below says it
                else:
                    lines.append(f"{title}: {value:.1%} of the weights are exactly zero")
        p = self.pruning
        if p is not None and n.module_path:
            kept = p.channels_text(n.module_path)
            if kept:
                lines.append(f"{kept} (of {p.parent}'s)" if p.channels(n.module_path)[1]
                             else kept)
            frac = p.layer_sparsity.get(n.module_path)
            if frac is not None:
                lines.append(f"{frac:.1%} of its output channels removed by {p.method}"
                             if p.structured else
                             f"pruned by {p.method} to {frac:.1%} (its lineage)")
        if n.layer and n.layer != n.name:
            lines.append(f"activations of {n.layer}")
        if n.op == "collapsed":
            lines.append(f"{n.members} layers folded: double-click to expand")
        return "\n".join(lines)

    # -- navigation --------------------------------------------------------------
    def fit_all(self) -> None:
        if self.layout is None or not self.layout.names:
            return
        x0, y0, x1, y1 = (float(v) for v in self.layout.bounds())
        self.vb.setRange(QRectF(x0, y0, x1 - x0, y1 - y0), padding=0.03)

    def fit_initial(self) -> None:
        """The whole graph when it fits legibly; otherwise its top at a readable zoom."""
        if self.layout is None or not self.layout.names:
            return
        x0, y0, x1, y1 = self.layout.bounds()
        w = max(self.width(), 200)
        h = max(self.height(), 200)
        scale = min(w / (x1 - x0 + 40), h / (y1 - y0 + 40))
        if scale * TEXT_PX >= 9:
            self.fit_all()
            return
        scale = max(scale, 10.0 / TEXT_PX)
        vw, vh = w / scale, h / scale
        cx = (x0 + x1) / 2 if vw >= x1 - x0 else float(self.layout.x[0])
        self.vb.setRange(QRectF(cx - vw / 2, y0 - 20, vw, vh), padding=0)

    def ensure_visible(self, name: str) -> None:
        i = self.index[name]
        x, y = float(self.layout.x[i]), float(self.layout.y[i])
        (vx0, vx1), (vy0, vy1) = self.vb.viewRange()
        margin_x, margin_y = float(self.layout.width[i]) / 2, float(self.layout.height[i]) / 2
        if vx0 + margin_x <= x <= vx1 - margin_x and vy0 + margin_y <= y <= vy1 - margin_y:
            return
        w, h = vx1 - vx0, vy1 - vy0
        self.vb.setRange(QRectF(x - w / 2, y - h / 2, w, h), padding=0)
