"""Error messages of one line."""

__all__ = ['one_line']


def one_line(err, limit=300):
    """The line of ``err``'s message that says what went wrong: MXNet's errors start with a
    C++ stack ("Traceback ...", "File ...") and end with ``MXNetError: <reason>``."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    reasons = [line.split(':', 1)[1].strip() for line in lines
               if line.startswith('MXNetError:')]
    plain = [line for line in lines if not line.startswith(('Traceback', 'File ', '[bt]'))]
    text = (reasons or plain or [type(err).__name__])[-1 if reasons else 0]
    return text if len(text) <= limit else text[:limit] + '...'
