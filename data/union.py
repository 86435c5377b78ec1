"""Several datasets as one: the union a run trains on (``--dataset sirst+nudt-sirst``).

Training crops make every member's samples one size, so a union loads in one batch stream;
scoring keeps the members apart (each at its own evaluation size), which is why
:func:`members_of` gives the consumers the parts with their offsets.
"""
import bisect

from mxnet import gluon

from .files import DatasetError

__all__ = ['UnionSegmentation', 'union_of', 'members_of']


class UnionSegmentation(gluon.data.Dataset):
    """The concatenation of ``members`` (datasets of the registry, all in one mode): index
    ``i`` is member ``k``'s sample ``i - offset(k)``. ``NAME`` joins the members' names with
    ``+``, ``label`` their split labels; :meth:`describe` gives one line per member."""

    def __init__(self, members):
        self.members = list(members)
        if len(self.members) < 2:
            raise DatasetError('A union needs at least two datasets.')
        modes = {member.mode for member in self.members}
        if len(modes) > 1:
            raise DatasetError('The members of a union must be in one mode, not %s.'
                               % ', '.join(sorted(modes)))
        self.mode = modes.pop()
        self.NAME = '+'.join(member.NAME for member in self.members)
        self.label = ' + '.join('%s %s' % (m.NAME, m.label) for m in self.members)
        self._ends = []
        for member in self.members:
            self._ends.append((self._ends[-1] if self._ends else 0) + len(member))

    def __len__(self):
        return self._ends[-1]

    def locate(self, idx):
        """``(member number, index within that member)`` of sample ``idx``."""
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError('index %d is outside a union of %d samples' % (idx, len(self)))
        part = bisect.bisect_right(self._ends, idx)
        return part, idx - (self._ends[part - 1] if part else 0)

    def __getitem__(self, idx):
        part, local = self.locate(idx)
        return self.members[part][local]

    def native_mask(self, idx):
        part, local = self.locate(idx)
        return self.members[part].native_mask(local)

    def scored_sample(self, idx):
        part, local = self.locate(idx)
        return self.members[part].scored_sample(local)

    def load_image(self, idx):
        part, local = self.locate(idx)
        return self.members[part].load_image(local)

    def verify(self):
        for member in self.members:
            member.verify()

    def describe(self):
        return '; '.join(member.describe() for member in self.members)


def union_of(datasets):
    """The one dataset of ``datasets``, or their :class:`UnionSegmentation`."""
    datasets = list(datasets)
    return datasets[0] if len(datasets) == 1 else UnionSegmentation(datasets)


def members_of(dataset):
    """``[(offset, member)]``: a union's members with the index of their first sample, or
    ``[(0, dataset)]`` for any other dataset."""
    members = getattr(dataset, 'members', None)
    if members is None:
        return [(0, dataset)]
    return [(end - len(member), member) for end, member in zip(dataset._ends, members)]
