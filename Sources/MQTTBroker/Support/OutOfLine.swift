/// An optional value kept out of line: its owner holds one reference (none while the value is nil) instead
/// of the value's whole inline size. For large values that are seldom set, in objects there are many of:
/// a session's will (299 bytes inline), its pending will and its last stored state made every session about
/// 1 KiB, most of the memory of an idle MQTT connection.
///
/// Each assignment makes a new box, so the value keeps value semantics.
@propertyWrapper
struct OutOfLine<Value> {
    private final class Box {
        let value: Value

        init(_ value: Value) {
            self.value = value
        }
    }

    private var box: Box?

    init(wrappedValue: Value?) {
        box = wrappedValue.map(Box.init)
    }

    var wrappedValue: Value? {
        get { box?.value }
        set { box = newValue.map(Box.init) }
    }
}
