//! [`Message`]: a type-erased `Send` value that is stored inline when it is small (up to two
//! words, word-aligned: integers, small tuples, `Pid`-sized structs, `Arc`s, `Box`es, `String`s
//! are 24 bytes so they are boxed) and boxed otherwise, so the common small message costs no
//! allocation. Owns its value; never copies it.

use std::any::{Any, TypeId};
use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit, align_of, size_of};

type Words = [usize; 2];

struct VTable {
    /// The `TypeId` of the inline value; unused for boxed values.
    type_id: fn() -> TypeId,
    /// The value's type name, for `Debug` (boxed values have a vtable per type too, for this).
    type_name: fn() -> &'static str,
    /// Drops the inline value in place, or the box; `None` when there is nothing to drop.
    drop: Option<unsafe fn(*mut Words)>,
    boxed: bool,
}

struct Inline<T>(std::marker::PhantomData<T>);

impl<T: Any + Send> Inline<T> {
    const VTABLE: VTable = VTable {
        type_id: TypeId::of::<T>,
        type_name: std::any::type_name::<T>,
        drop: if std::mem::needs_drop::<T>() { Some(drop_inline::<T>) } else { None },
        boxed: false,
    };
}

struct Boxed<T>(std::marker::PhantomData<T>);

impl<T: Any + Send> Boxed<T> {
    const VTABLE: VTable =
        VTable { type_id: TypeId::of::<()>, type_name: std::any::type_name::<T>, drop: Some(drop_boxed), boxed: true };
}

unsafe fn drop_inline<T>(data: *mut Words) {
    // SAFETY: the caller passes the data words of a live inline `T` (checked by the vtable).
    unsafe { std::ptr::drop_in_place(data.cast::<T>()) }
}

unsafe fn drop_boxed(data: *mut Words) {
    // SAFETY: the words hold a `Box<dyn Any + Send>` written by `Message::boxed`.
    drop(unsafe { data.cast::<Box<dyn Any + Send>>().read() })
}

fn fits_inline<T>() -> bool {
    size_of::<T>() <= size_of::<Words>() && align_of::<T>() <= align_of::<Words>()
}

/// A message in flight: any `Send` value, moved, not copied. Values of up to two machine words
/// travel inline; larger ones are boxed.
///
/// # Examples
/// ```
/// use ergors::Message;
/// let m = Message::new(42u32);
/// assert!(m.is::<u32>());
/// assert_eq!(m.downcast::<u32>().ok(), Some(42));
/// let big = Message::new([7u64; 8]);
/// assert_eq!(big.downcast_ref::<[u64; 8]>(), Some(&[7u64; 8]));
/// ```
pub struct Message {
    vtable: &'static VTable,
    data: MaybeUninit<Words>,
    /// `Send` but not `Sync`: the value inside need only be `Send`, so sharing `&Message`
    /// across threads (and `downcast_ref` from two of them) must not compile.
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

// SAFETY: every constructor requires `T: Send` (or a `Box<dyn Any + Send>`), so the value inside
// may move to another thread.
unsafe impl Send for Message {}

impl Message {
    /// Wraps a value. A `Message` passed in is kept as it is (not wrapped twice).
    pub fn new<T: Any + Send>(value: T) -> Message {
        if TypeId::of::<T>() == TypeId::of::<Message>() {
            let value = ManuallyDrop::new(value);
            // SAFETY: T is Message (same TypeId), so this reads a Message out of `value`, which
            // is not dropped (ManuallyDrop): ownership moves exactly once.
            return unsafe { std::ptr::read((&*value as *const T).cast::<Message>()) };
        }
        if fits_inline::<T>() {
            let mut data = MaybeUninit::<Words>::uninit();
            // SAFETY: T fits in and is no more aligned than the two words (checked above).
            unsafe { data.as_mut_ptr().cast::<T>().write(value) };
            Message { vtable: &Inline::<T>::VTABLE, data, _not_sync: std::marker::PhantomData }
        } else {
            Message::boxed(Box::new(value), &Boxed::<T>::VTABLE)
        }
    }

    fn boxed(b: Box<dyn Any + Send>, vtable: &'static VTable) -> Message {
        let mut data = MaybeUninit::<Words>::uninit();
        // SAFETY: a `Box<dyn Any + Send>` is a two-word fat pointer; it is read back only as the
        // same type (in `drop_boxed`, `take_box`, `boxed_ref`).
        unsafe { data.as_mut_ptr().cast::<Box<dyn Any + Send>>().write(b) };
        Message { vtable, data, _not_sync: std::marker::PhantomData }
    }

    fn boxed_ref(&self) -> Option<&(dyn Any + Send)> {
        if !self.vtable.boxed {
            return None;
        }
        // SAFETY: boxed vtable: the words hold a live `Box<dyn Any + Send>`.
        Some(unsafe { &**self.data.as_ptr().cast::<Box<dyn Any + Send>>() })
    }

    /// The `TypeId` of the value inside (for the network's encoder registry).
    pub(crate) fn value_type_id(&self) -> TypeId {
        match self.boxed_ref() {
            Some(b) => b.type_id(),
            None => (self.vtable.type_id)(),
        }
    }

    /// The Rust name of the value's type (for error messages).
    pub(crate) fn type_name(&self) -> &'static str {
        (self.vtable.type_name)()
    }

    /// True if the value is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.value_type_id() == TypeId::of::<T>()
    }

    /// Borrows the value if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        if let Some(b) = self.boxed_ref() {
            return b.downcast_ref::<T>();
        }
        if (self.vtable.type_id)() != TypeId::of::<T>() {
            return None;
        }
        // SAFETY: the inline value is a `T` (same TypeId) and lives as long as `self`.
        Some(unsafe { &*self.data.as_ptr().cast::<T>() })
    }

    /// Takes the value out if it is a `T`; gives the message back otherwise.
    pub fn downcast<T: Any>(self) -> Result<T, Message> {
        if !self.is::<T>() {
            return Err(self);
        }
        let this = ManuallyDrop::new(self);
        if this.vtable.boxed {
            // SAFETY: boxed vtable; the box moves out once and `this` is never dropped.
            let b = unsafe { this.data.as_ptr().cast::<Box<dyn Any + Send>>().read() };
            match b.downcast::<T>() {
                Ok(v) => Ok(*v),
                Err(b) => Err(Message::boxed(b, this.vtable)),
            }
        } else {
            // SAFETY: the inline value is a `T` (checked) and moves out once; `this` is not dropped.
            Ok(unsafe { this.data.as_ptr().cast::<T>().read() })
        }
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        if let Some(drop) = self.vtable.drop {
            // SAFETY: the vtable matches the words' content, which is dropped exactly once here.
            unsafe { drop(self.data.as_mut_ptr()) }
        }
    }
}

/// Shows the value's type (the value itself need not be `Debug`), e.g. `Message(u64)`.
impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Message({})", (self.vtable.type_name)())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn inline_and_boxed_round_trip() {
        assert!(!Message::new(1i64).vtable.boxed);
        assert!(!Message::new((1u64, 2u64)).vtable.boxed);
        assert!(Message::new(String::from("x")).vtable.boxed);
        assert_eq!(Message::new(5i64).downcast::<i64>().ok(), Some(5));
        assert_eq!(Message::new(String::from("hi")).downcast::<String>().ok().as_deref(), Some("hi"));
        let m = Message::new(3u8);
        let m = m.downcast::<u16>().unwrap_err();
        assert_eq!(m.downcast::<u8>().ok(), Some(3));
        assert!(Message::new(()).is::<()>());
    }

    #[test]
    fn drops_exactly_once() {
        let a = Arc::new(());
        let m = Message::new(a.clone()); // inline (one word)
        assert_eq!(Arc::strong_count(&a), 2);
        drop(m);
        assert_eq!(Arc::strong_count(&a), 1);
        let m = Message::new((a.clone(), [0u64; 4])); // boxed
        assert_eq!(Arc::strong_count(&a), 2);
        drop(m);
        assert_eq!(Arc::strong_count(&a), 1);
        let m = Message::new(a.clone());
        let back = m.downcast::<Arc<()>>().unwrap();
        assert_eq!(Arc::strong_count(&a), 2);
        drop(back);
        assert_eq!(Arc::strong_count(&a), 1);
    }

    #[test]
    fn message_in_message_is_not_rewrapped() {
        let m = Message::new(Message::new(9u32));
        assert_eq!(m.downcast::<u32>().ok(), Some(9));
    }

    #[test]
    fn debug_shows_the_type_inline_or_boxed() {
        assert_eq!(format!("{:?}", Message::new(7u64)), "Message(u64)");
        assert_eq!(format!("{:?}", Message::new(String::from("x"))), "Message(alloc::string::String)");
        let m = Message::new([1u64; 4]).downcast::<u8>().unwrap_err();
        assert_eq!(format!("{m:?}"), "Message([u64; 4])", "a failed downcast keeps the name");
    }

    #[test]
    fn over_aligned_values_are_boxed() {
        #[repr(align(32))]
        struct Wide(u8);
        let m = Message::new(Wide(4));
        assert!(m.vtable.boxed);
        assert_eq!(m.downcast_ref::<Wide>().map(|w| w.0), Some(4));
    }
}
